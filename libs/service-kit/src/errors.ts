/** A port could not be bound: names the port and the option (and environment variable) that changes it. */
export class PortInUseError extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly optionName: string,
    cause?: unknown,
  ) {
    super(
      `${host}:${port} is already in use; choose another port with ${optionName} (or stop what is listening there)`,
      { cause },
    );
    this.name = 'PortInUseError';
  }
}

export function isAddressInUse(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  return e?.code === 'EADDRINUSE' || /EADDRINUSE|address already in use/i.test(e?.message ?? '');
}
