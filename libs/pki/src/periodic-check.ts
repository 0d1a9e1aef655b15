/**
 * A check run on a timer and on demand, one at a time: a `run()` while one is under way shares it, and a failure on
 * the timer goes to `onError` (the next tick tries again). The root rotator and the Vault intermediate renewer
 * use it.
 */
export class PeriodicCheck<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;

  constructor(
    private readonly once: () => Promise<T>,
    private readonly onError: (err: Error) => void,
  ) {}

  run(): Promise<T> {
    this.running ??= this.once().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Settles when the check under way (if any) has, never rejecting. */
  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** Checks every `intervalMs` (without holding the process open) until stop(). */
  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => {
      this.run().catch((err: unknown) => this.onError(err instanceof Error ? err : new Error(String(err))));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
