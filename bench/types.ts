/**
 * `npm run bench` runs every bench module and prints one table. Each row compares our figure with a
 * baseline and a limit measured in the same run, so ratios stay meaningful on any machine.
 */
export interface BenchRow {
  /** e.g. "sink: upsert 200k employees" */
  name: string;
  metric: string;
  unit: string;
  ours: number;
  baseline?: { name: string; value: number };
  limit?: { name: string; value: number };
  /** The same job done by a tool users would otherwise pick, with its own peak RSS. */
  peer?: { name: string; value: number; peakRssMiB?: number };
  /** A goal stated as a ratio against baseline or limit, e.g. ">= 0.5 x limit". */
  goal?: string;
  goalMet?: boolean;
  peakRssMiB?: number;
}

export interface BenchEnv {
  brokers: string[];
  databaseUrl: string;
  schemaRegistryUrl?: string;
  /** Smaller sizes for CI smoke runs. */
  quick: boolean;
  log: (msg: string) => void;
}

export interface BenchModule {
  name: string;
  run(env: BenchEnv): Promise<BenchRow[]>;
}
