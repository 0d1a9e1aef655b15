/**
 * Parser for Mixer's configuration expression language (CEXL, Istio 1.4): a subset of Go expression syntax.
 *
 *   expr     := or
 *   or       := and ('||' and)*
 *   and      := cmp ('&&' cmp)*
 *   cmp      := add (('==' | '!=' | '<' | '<=' | '>' | '>=') add)*
 *   add      := unary (('+' | '-' | '|') unary)*        // Go puts `|` with `+`: a | b == c is (a | b) == c
 *   unary    := ('!' | '-') unary | postfix
 *   postfix  := primary ( '[' expr ']' | '.' ident '(' args ')' )*
 *   primary  := literal | ident ('.' ident)* [ '(' args ')' ] | '(' expr ')'
 *
 * Attribute names are dotted paths (`destination.service.host`); a path whose last segment is followed by `(` is a
 * call: a global function (`match(a, b)`) when the path is one segment, otherwise a method on the attribute named
 * by the rest (`request.path.startsWith("/api")`). Every node carries its offset in the source, so errors name
 * the position.
 */

export type Node =
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'int'; value: number; pos: number }
  | { kind: 'double'; value: number; pos: number }
  | { kind: 'bool'; value: boolean; pos: number }
  | { kind: 'attr'; name: string; pos: number }
  | { kind: 'index'; target: Node; key: Node; pos: number }
  | { kind: 'unary'; op: '!' | '-'; operand: Node; pos: number }
  | { kind: 'binary'; op: BinaryOp; left: Node; right: Node; pos: number }
  | { kind: 'call'; fn: string; target?: Node; args: Node[]; pos: number };

export type BinaryOp = '||' | '&&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '|';

/** An expression that does not parse or type-check: `position` is the 0-based offset of the offending token. */
export class ExpressionError extends Error {
  constructor(
    readonly expression: string,
    readonly position: number,
    readonly reason: string,
  ) {
    super(`${reason} at position ${position} of ${JSON.stringify(expression)}`);
    this.name = 'ExpressionError';
  }
}

type Token =
  | { t: 'ident'; v: string; pos: number }
  | { t: 'string'; v: string; pos: number }
  | { t: 'number'; v: string; pos: number }
  | { t: 'op'; v: string; pos: number }
  | { t: 'eof'; pos: number };

const OPERATORS = [
  '||',
  '&&',
  '==',
  '!=',
  '<=',
  '>=',
  '<',
  '>',
  '+',
  '-',
  '|',
  '!',
  '(',
  ')',
  '[',
  ']',
  '.',
  ',',
];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const fail = (pos: number, reason: string): never => {
    throw new ExpressionError(src, pos, reason);
  };
  while (i < src.length) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(c)) {
      while (i < src.length && /[A-Za-z0-9_]/.test(src[i])) i++;
      out.push({ t: 'ident', v: src.slice(start, i), pos: start });
      continue;
    }
    if (/[0-9]/.test(c)) {
      while (i < src.length && /[0-9]/.test(src[i])) i++;
      if (src[i] === '.' && /[0-9]/.test(src[i + 1] ?? '')) {
        i++;
        while (i < src.length && /[0-9]/.test(src[i])) i++;
      }
      if (/[eE]/.test(src[i] ?? '')) {
        i++;
        if (/[+-]/.test(src[i] ?? '')) i++;
        if (!/[0-9]/.test(src[i] ?? '')) fail(start, 'malformed number');
        while (i < src.length && /[0-9]/.test(src[i])) i++;
      }
      if (/[A-Za-z_]/.test(src[i] ?? '')) fail(i, `unexpected ${JSON.stringify(src[i])} after number`);
      out.push({ t: 'number', v: src.slice(start, i), pos: start });
      continue;
    }
    if (c === '"' || c === "'") {
      // Go string (and, as Mixer accepts it, a single-quoted string) with backslash escapes.
      i++;
      let v = '';
      for (;;) {
        if (i >= src.length || src[i] === '\n') fail(start, 'unterminated string');
        const ch = src[i];
        if (ch === c) break;
        if (ch === '\\') {
          const e = src[i + 1];
          const simple: Record<string, string> = {
            n: '\n',
            t: '\t',
            r: '\r',
            '\\': '\\',
            '"': '"',
            "'": "'",
            a: '\x07',
            b: '\b',
            f: '\f',
            v: '\v',
          };
          if (e !== undefined && e in simple) {
            v += simple[e];
            i += 2;
          } else if (e === 'x' || e === 'u' || e === 'U') {
            const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
            const hex = src.slice(i + 2, i + 2 + len);
            if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) fail(i, `malformed \\${e} escape`);
            const cp = parseInt(hex, 16);
            if (cp > 0x10ffff) fail(i, 'escape is not a Unicode code point');
            v += String.fromCodePoint(cp);
            i += 2 + len;
          } else fail(i, `unknown escape \\${e ?? ''}`);
          continue;
        }
        v += ch;
        i++;
      }
      i++;
      out.push({ t: 'string', v, pos: start });
      continue;
    }
    if (c === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0) fail(start, 'unterminated raw string');
      out.push({ t: 'string', v: src.slice(i + 1, end), pos: start });
      i = end + 1;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (!op) fail(i, `unexpected character ${JSON.stringify(c)}`);
    out.push({ t: 'op', v: op!, pos: start });
    i += op!.length;
  }
  out.push({ t: 'eof', pos: src.length });
  return out;
}

const MAX_DEPTH = 200;

class Parser {
  private i = 0;
  private depth = 0;

  constructor(
    private readonly src: string,
    private readonly tokens: Token[],
  ) {}

  private get tok(): Token {
    return this.tokens[this.i];
  }

  private fail(pos: number, reason: string): never {
    throw new ExpressionError(this.src, pos, reason);
  }

  private isOp(v: string): boolean {
    const t = this.tok;
    return t.t === 'op' && t.v === v;
  }

  private expect(v: string): Token {
    const t = this.tok;
    if (t.t !== 'op' || t.v !== v) this.fail(t.pos, `expected ${JSON.stringify(v)} but found ${describe(t)}`);
    this.i++;
    return t;
  }

  parseAll(): Node {
    if (this.tok.t === 'eof') this.fail(0, 'empty expression');
    const n = this.expr();
    const rest: Token = this.tokens[this.i];
    if (rest.t !== 'eof') this.fail(rest.pos, `unexpected ${describe(rest)}`);
    return n;
  }

  private expr(): Node {
    if (++this.depth > MAX_DEPTH) this.fail(this.tok.pos, 'expression nests too deeply');
    try {
      return this.binary(0);
    } finally {
      this.depth--;
    }
  }

  private static readonly LEVELS: readonly (readonly BinaryOp[])[] = [
    ['||'],
    ['&&'],
    ['==', '!=', '<', '<=', '>', '>='],
    ['+', '-', '|'],
  ];

  private binary(level: number): Node {
    if (level === Parser.LEVELS.length) return this.unary();
    let left = this.binary(level + 1);
    for (;;) {
      const t = this.tok;
      if (t.t !== 'op' || !(Parser.LEVELS[level] as readonly string[]).includes(t.v)) return left;
      this.i++;
      const right = this.binary(level + 1);
      left = { kind: 'binary', op: t.v as BinaryOp, left, right, pos: t.pos };
    }
  }

  private unary(): Node {
    const t = this.tok;
    if (t.t === 'op' && (t.v === '!' || t.v === '-')) {
      this.i++;
      if (++this.depth > MAX_DEPTH) this.fail(t.pos, 'expression nests too deeply');
      try {
        return { kind: 'unary', op: t.v, operand: this.unary(), pos: t.pos };
      } finally {
        this.depth--;
      }
    }
    return this.postfix(this.primary());
  }

  private args(): Node[] {
    this.expect('(');
    const args: Node[] = [];
    if (!this.isOp(')')) {
      for (;;) {
        args.push(this.expr());
        if (this.isOp(')')) break;
        this.expect(',');
      }
    }
    this.expect(')');
    return args;
  }

  private postfix(node: Node): Node {
    for (;;) {
      const t = this.tok;
      if (t.t === 'op' && t.v === '[') {
        this.i++;
        const key = this.expr();
        this.expect(']');
        node = { kind: 'index', target: node, key, pos: t.pos };
      } else if (t.t === 'op' && t.v === '.') {
        this.i++;
        const name = this.tok;
        if (name.t !== 'ident') this.fail(name.pos, `expected a method name but found ${describe(name)}`);
        this.i++;
        if (!this.isOp('(')) this.fail(this.tok.pos, `expected "(" after .${name.v}`);
        node = { kind: 'call', fn: name.v, target: node, args: this.args(), pos: name.pos };
      } else return node;
    }
  }

  private primary(): Node {
    const t = this.tok;
    switch (t.t) {
      case 'string':
        this.i++;
        return { kind: 'string', value: t.v, pos: t.pos };
      case 'number': {
        this.i++;
        if (/^[0-9]+$/.test(t.v)) {
          const value = Number(t.v);
          if (!Number.isSafeInteger(value)) this.fail(t.pos, `integer ${t.v} is too large`);
          return { kind: 'int', value, pos: t.pos };
        }
        return { kind: 'double', value: Number(t.v), pos: t.pos };
      }
      case 'ident': {
        if (t.v === 'true' || t.v === 'false') {
          this.i++;
          return { kind: 'bool', value: t.v === 'true', pos: t.pos };
        }
        const segments = [t.v];
        this.i++;
        while (this.isOp('.') && this.tokens[this.i + 1]?.t === 'ident') {
          this.i++;
          segments.push((this.tok as { v: string }).v);
          this.i++;
        }
        if (this.isOp('(')) {
          const fn = segments.pop()!;
          const fnPos = this.tokens[this.i - 1].pos;
          const args = this.args();
          if (segments.length === 0) return { kind: 'call', fn, args, pos: fnPos };
          return {
            kind: 'call',
            fn,
            target: { kind: 'attr', name: segments.join('.'), pos: t.pos },
            args,
            pos: fnPos,
          };
        }
        return { kind: 'attr', name: segments.join('.'), pos: t.pos };
      }
      case 'op':
        if (t.v === '(') {
          this.i++;
          const inner = this.expr();
          this.expect(')');
          return inner;
        }
        return this.fail(t.pos, `unexpected ${describe(t)}`);
      default:
        return this.fail(t.pos, 'unexpected end of expression');
    }
  }
}

function describe(t: Token): string {
  if (t.t === 'eof') return 'end of expression';
  if (t.t === 'string') return `string ${JSON.stringify(t.v)}`;
  return JSON.stringify(t.v);
}

/** Parses one expression, or throws ExpressionError with the offset of the problem. */
export function parseExpression(src: string): Node {
  return new Parser(src, tokenize(src)).parseAll();
}
