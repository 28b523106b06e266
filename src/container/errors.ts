// Errors the containers API throws. `exitCode` is what the CLI exits with (docker's conventions:
// 125 hull itself failed, 126 command not invocable, 127 command not found, 1 for "no such …" on
// verbs that act on existing containers).

export class ContainerCliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 125,
  ) {
    super(message);
    this.name = 'ContainerCliError';
  }
}

/** Bad flags or input: nothing was created. */
export const usageError = (message: string) => new ContainerCliError(message, 125);

export class NoSuchContainerError extends ContainerCliError {
  constructor(nameOrId: string, exitCode = 1) {
    super(`No such container: ${nameOrId}`, exitCode);
    this.name = 'NoSuchContainerError';
  }
}

export class NoSuchVolumeError extends ContainerCliError {
  constructor(name: string) {
    super(`No such volume: ${name}`, 1);
    this.name = 'NoSuchVolumeError';
  }
}

/** A container in the wrong state for the operation ("is not running", "is paused"). */
export class ContainerStateError extends ContainerCliError {
  constructor(message: string, exitCode = 1) {
    super(message, exitCode);
    this.name = 'ContainerStateError';
  }
}
