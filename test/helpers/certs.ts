import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  /** The server's key and certificate in one file (Kafka's PEM keystore). */
  serverKeystore: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here: trusting it must fail. */
  otherCa: string;
}

/**
 * A throwaway PKI made with openssl: a CA, a server certificate for 127.0.0.1 and localhost, a client
 * certificate (mutual TLS), and an unrelated CA. Keys are unencrypted PKCS#8, as Kafka's PEM keystore
 * and Node's TLS both read them.
 */
export async function makePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const ossl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const ca = async (name: string) => {
    await ossl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.pem`),
    );
  };
  await ca('test-ca');
  await ca('other-ca');
  const issue = async (name: string, cn: string, ext: string) => {
    await ossl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
    );
    await writeFile(f(`${name}.ext`), ext);
    await ossl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('test-ca.pem'),
      '-CAkey',
      f('test-ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
      '-out',
      f(`${name}.pem`),
    );
  };
  await issue('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await issue('client', 'kombo-stream', 'extendedKeyUsage=clientAuth\n');
  const { readFile } = await import('node:fs/promises');
  await writeFile(
    f('server-keystore.pem'),
    `${await readFile(f('server.key'), 'utf8')}${await readFile(f('server.pem'), 'utf8')}`,
  );
  return {
    dir,
    ca: f('test-ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    serverKeystore: f('server-keystore.pem'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    otherCa: f('other-ca.pem'),
  };
}
