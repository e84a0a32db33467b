/** One benchmark figure and, where there is one, the baseline measured in the same run. */
export interface Row {
  metric: string;
  value: number;
  unit: string;
  baseline?: { label: string; value: number };
  /** Whether a bigger value is better (throughput) or worse (time, bytes). */
  higherIsBetter?: boolean;
}

const fmt = (n: number) =>
  n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(n >= 10 ? 1 : 2);

/** Prints rows as a Markdown table: figure, baseline, and the ratio figure/baseline. */
export function printTable(title: string, rows: Row[]): void {
  console.log(`\n### ${title}\n`);
  console.log("| metric | value | baseline (same run) | ratio |");
  console.log("| --- | ---: | --- | ---: |");
  for (const row of rows) {
    const baseline = row.baseline
      ? `${fmt(row.baseline.value)} ${row.unit} (${row.baseline.label})`
      : "-";
    const ratio = row.baseline ? `${(row.value / row.baseline.value).toFixed(2)}x` : "-";
    console.log(`| ${row.metric} | ${fmt(row.value)} ${row.unit} | ${baseline} | ${ratio} |`);
  }
}

/** The p-th percentile (nearest rank) of already sorted samples; NaN when there are none. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** Runs the suites named on the command line (all by default) and prints the machine. */
export async function runSuites(suites: Record<string, () => Promise<void>>): Promise<void> {
  const { cpus } = await import("node:os");
  const wanted = process.argv.slice(2);
  for (const name of wanted.length > 0 ? wanted : Object.keys(suites)) {
    const suite = suites[name];
    if (!suite)
      throw new Error(`unknown bench suite '${name}'; known: ${Object.keys(suites).join(", ")}`);
    await suite();
  }
  console.log(
    `\n${new Date().toISOString()} node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? "unknown cpu"}`,
  );
}
