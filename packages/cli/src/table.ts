/** Rows as aligned text columns, two spaces apart, the first row being the header. */
export function formatTable(rows: ReadonlyArray<ReadonlyArray<string>>): string[] {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) =>
    Math.max(...rows.map((r) => (r[i] ?? "").length)),
  );
  return rows.map((r) =>
    widths
      .map((width, i) => (r[i] ?? "").padEnd(width))
      .join("  ")
      .trimEnd(),
  );
}

/** Prints `formatTable(rows)` line by line through `out`. */
export function printTable(
  rows: ReadonlyArray<ReadonlyArray<string>>,
  out: (line: string) => void,
): void {
  for (const line of formatTable(rows)) out(line);
}
