/**
 * The `pid-studio` command line (formats.md): inspect, sample, distill, denoise, convert, export, export-run, eval. Bad input
 * ends with exit code 2 and one line on stderr naming the file, the problem and the fix; never a stack trace.
 */
import { ModelFileError } from '../formats/errors';
import { UsageError } from './args';
import { COMMAND_HELP, commandHelp, fullHelp } from './usage';

/** A command prints its results with `out`, and warnings (not errors) with `warn`: stderr, after the command's name. */
export type Command = (argv: string[], out: (line: string) => void, warn: (line: string) => void) => Promise<number>;
// Loaded on demand: only distill needs tfjs's gradient registrations, which are slow to load.
const COMMANDS: Record<string, () => Promise<Command>> = {
  inspect: async () => (await import('./inspect')).inspect,
  sample: async () => (await import('./sample')).sample,
  distill: async () => (await import('./distill')).distill,
  sweep: async () => (await import('./sweep')).sweep,
  eval: async () => (await import('./eval')).evaluate,
  denoise: async () => (await import('./denoise')).denoise,
  convert: async () => (await import('./convert')).convert,
  export: async () => (await import('./export')).exportModel,
  'export-run': async () => (await import('./export-run')).exportRun,
};

export async function main(argv: string[], out = (l: string) => console.log(l), err = (l: string) => console.error(l)): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    out(fullHelp());
    return command ? 0 : 2;
  }
  const load = COMMANDS[command];
  if (!load) {
    err(`pid-studio: unknown command '${command}' (commands: ${Object.keys(COMMANDS).join(', ')}; see pid-studio --help)`);
    return 2;
  }
  if (COMMAND_HELP[command] && rest.some((a) => a === '--help' || a === '-h')) {
    out(commandHelp(command));
    return 0;
  }
  try {
    return await (await load())(rest, out, (line) => err(`pid-studio ${command}: ${line}`));
  } catch (e) {
    if (e instanceof ModelFileError || e instanceof UsageError) {
      // A usage message names its command itself ("distill: --lr must be positive"); the prefix says it once.
      err(`pid-studio ${command}: ${oneLine(e instanceof UsageError ? withoutCommand(e.message, command) : e.message)}`);
      return 2;
    }
    // Anything else (a diverged run, a backend failure) is not bad input: exit 1, still one line.
    const { explainBackendError } = await import('../core/backend'); // loaded here: most commands never fail this way
    err(`pid-studio ${command}: failed: ${oneLine(withoutCommand(explainBackendError(e instanceof Error ? e.message : String(e)), command))}`);
    return 1;
  }
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ');
const withoutCommand = (message: string, command: string) => (message.startsWith(`${command}: `) ? message.slice(command.length + 2) : message);
