/** Errors carry a stable code and whether retrying can help; messages name the thing and the fix. */
export class NbpyError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retriable = false,
  ) {
    super(message);
    this.name = 'NbpyError';
  }
}

/** A usage or configuration error: the CLI exits with code 2. */
export class UsageError extends NbpyError {
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super('E_USAGE', message, false);
    this.name = 'UsageError';
  }
}
