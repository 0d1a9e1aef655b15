const COLOURS = { galley: 36, pilot: 35, mixer: 33, citadel: 32, bookinfo: 34 } as const;
const LEVEL_COLOURS: Record<string, number> = {
  error: 31,
  fatal: 31,
  warn: 33,
  info: 32,
  debug: 90,
  trace: 90,
};

export interface Painter {
  (code: number, text: string): string;
}

export function painter(enabled: boolean): Painter {
  return (code, text) => (enabled ? `\x1b[${code}m${text}\x1b[0m` : text);
}

/**
 * One line of an app's output as `up` shows it: prefixed with the app's name in its colour, and, when the line
 * is one of the apps' pino JSON records, as "time LEVEL message key=value…".
 */
export function formatLine(app: keyof typeof COLOURS, line: string, paint: Painter): string {
  const prefix = paint(COLOURS[app], `[${app}]`.padEnd(9));
  let record: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed && typeof parsed === 'object' && 'msg' in parsed) record = parsed as Record<string, unknown>;
  } catch {
    // not JSON: shown as it is
  }
  if (!record) return `${prefix} ${line}`;
  const { time, level, msg, component: _component, err, ...rest } = record;
  const clock = typeof time === 'string' ? time.slice(11, 23) : '';
  const levelText = String(level ?? '')
    .toUpperCase()
    .padEnd(5);
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const errText =
    err && typeof err === 'object' && 'message' in err ? ` error=${JSON.stringify(err.message)}` : '';
  return `${prefix} ${clock} ${paint(LEVEL_COLOURS[String(level)] ?? 0, levelText)} ${String(msg)}${fields ? ' ' + fields : ''}${errText}`;
}
