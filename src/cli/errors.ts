/**
 * The two ways a command fails. A `UsageError` (exit 2) means the command line is wrong: it is
 * printed with the command's short usage. A `CliError` (exit 1) means the command could not do its
 * job: the message says what happened and how to fix it. Neither prints a stack trace.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** The command whose usage to print ("dlq replay"); the top-level usage when absent. */
    readonly command?: string,
  ) {
    super(message);
  }
}

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
