// One error type for everything a user can get wrong in a spec or an override. Each issue is
// printed as `file:line:col  path.to.field  message`, the format editors and terminals link.

export interface SpecIssue {
  /** File the problem is in, or `override "a.b=c"` for a command-line override. */
  file: string;
  line: number;
  col: number;
  /** Dotted field path ('' when the problem is not at a field, e.g. a syntax error). */
  path: string;
  message: string;
}

export function formatIssue(i: SpecIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.col}` : i.file;
  return `${where}  ${i.path || '(file)'}  ${i.message}`;
}

export class SpecError extends Error {
  constructor(readonly issues: SpecIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'SpecError';
  }
}

export function joinPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}
