/**
 * The one error type for bad input files. Its message is the single line the CLI prints and the page shows:
 * "<file>: <what is wrong>. Fix: <how>" — it names the file, the problem and, where there is one, the fix.
 */
export class ModelFileError extends Error {
  readonly file: string;
  readonly problem: string;
  readonly fix: string | undefined;

  constructor(file: string, problem: string, fix?: string) {
    super(`${file}: ${problem}${fix ? `. Fix: ${fix}` : ''}`);
    this.name = 'ModelFileError';
    this.file = file;
    this.problem = problem;
    this.fix = fix;
  }
}
