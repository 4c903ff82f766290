// Metric lines as MLflow's file store writes and reads them: `<timestamp_ms> <value> <step>\n`,
// parsed in Python with int()/float(), so NaN and infinities are spelt the way Python prints them.
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Number.POSITIVE_INFINITY) return 'inf';
  if (v === Number.NEGATIVE_INFINITY) return '-inf';
  if (Object.is(v, -0)) return '-0.0';
  return String(v);
}

export function parseValue(s: string): number {
  const l = s.toLowerCase();
  if (l === 'nan' || l === '+nan' || l === '-nan') return Number.NaN;
  if (l === 'inf' || l === '+inf' || l === 'infinity' || l === '+infinity') return Number.POSITIVE_INFINITY;
  if (l === '-inf' || l === '-infinity') return Number.NEGATIVE_INFINITY;
  return s.trim() === '' ? Number.NaN : Number(s);
}

export function formatLine(timestamp: number, value: number, step: number): string {
  return `${timestamp} ${formatValue(value)} ${step}`;
}

export interface ParsedLine {
  timestamp: number;
  value: number;
  step: number;
}

/** Parses one line (padding spaces allowed, as Python's strip() drops them); undefined if malformed. */
export function parseLine(line: string): ParsedLine | undefined {
  const parts = line.trim().split(' ');
  if (parts.length !== 2 && parts.length !== 3) return undefined;
  if (!/^\d+$/.test(parts[0]!)) return undefined;
  if (parts.length === 3 && !/^-?\d+$/.test(parts[2]!)) return undefined;
  const value = parseValue(parts[1]!);
  if (Number.isNaN(value) && !/nan/i.test(parts[1]!)) return undefined;
  return { timestamp: Number(parts[0]), value, step: parts.length === 3 ? Number(parts[2]) : 0 };
}
