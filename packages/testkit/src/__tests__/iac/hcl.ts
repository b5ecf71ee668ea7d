/**
 * A minimal parser for the subset of HCL (Terraform's language) that `infra/terraform` is written
 * in: blocks with labels, attributes, string templates (kept verbatim, `${…}` included), numbers,
 * booleans, lists and objects. Any other expression (a reference, a call, a conditional) is kept
 * as its source text, so the test can recognise the few it needs (`aws_dynamodb_table.state.arn`)
 * without evaluating Terraform. It throws on anything outside the subset rather than guessing.
 */

/** An expression that is not a literal, as written (`var.tags`, `one(x[*].arn)`). */
export interface HclExpression {
  readonly expression: string;
}

/** A value of an attribute. Strings are template text: `"${var.key_prefix}:cache:*"`. */
export type HclValue =
  | string
  | number
  | boolean
  | null
  | HclExpression
  | readonly HclValue[]
  | { readonly [key: string]: HclValue };

/** A block (`resource "aws_dynamodb_table" "state" { … }`), or a file's body (type `''`). */
export interface HclBlock {
  readonly type: string;
  readonly labels: readonly string[];
  readonly attributes: Readonly<Record<string, HclValue>>;
  readonly blocks: readonly HclBlock[];
}

/** Whether `value` is an expression kept as source text. */
export function isExpression(value: HclValue | undefined): value is HclExpression {
  return typeof value === 'object' && value !== null && 'expression' in value;
}

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_-]*/y;
const NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;
const CLOSING: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

class Parser {
  private at = 0;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  parseFile(): HclBlock {
    const body = this.parseBody(false);
    if (this.at < this.text.length) this.fail('unexpected text');
    return { type: '', labels: [], ...body };
  }

  private parseBody(nested: boolean): Omit<HclBlock, 'type' | 'labels'> {
    const attributes: Record<string, HclValue> = {};
    const blocks: HclBlock[] = [];
    for (;;) {
      this.skip(true);
      if (this.at >= this.text.length) break;
      if (nested && this.text[this.at] === '}') break;
      const name = this.identifier();
      this.skip(false);
      if (this.text[this.at] === '=') {
        this.at++;
        if (name in attributes) this.fail(`duplicate attribute ${name}`);
        attributes[name] = this.parseValue('line');
        this.endOfLine();
        continue;
      }
      const labels: string[] = [];
      while (this.text[this.at] !== '{') {
        labels.push(this.text[this.at] === '"' ? this.string() : this.identifier());
        this.skip(false);
      }
      this.at++;
      const body = this.parseBody(true);
      this.expect('}');
      this.endOfLine();
      blocks.push({ type: name, labels, ...body });
    }
    return { attributes, blocks };
  }

  /** A value ending at a newline (`line`), or at `,` or the closing bracket of a collection. */
  private parseValue(context: 'line' | 'list' | 'object'): HclValue {
    this.skip(context !== 'line');
    const start = this.at;
    const char = this.text[this.at];
    let value: HclValue;
    if (char === '"') value = this.string();
    else if (char === '[') value = this.list();
    else if (char === '{') value = this.object();
    else {
      const raw = this.raw(context);
      if (NUMBER.test(raw)) return Number(raw);
      if (raw === 'true' || raw === 'false') return raw === 'true';
      if (raw === 'null') return null;
      return { expression: raw };
    }
    // A literal followed by an operator (`"a" == var.b`) is an expression after all.
    this.skip(false);
    const next = this.text[this.at];
    if (next !== undefined && !'\n,]}#/'.includes(next)) {
      this.at = start;
      return { expression: this.raw(context) };
    }
    return value;
  }

  private list(): HclValue[] {
    this.expect('[');
    const items: HclValue[] = [];
    for (;;) {
      this.skip(true);
      if (this.text[this.at] === ']') break;
      items.push(this.parseValue('list'));
      this.skip(true);
      if (this.text[this.at] === ',') this.at++;
      else if (this.text[this.at] !== ']') this.fail('expected , or ]');
    }
    this.at++;
    return items;
  }

  private object(): Record<string, HclValue> {
    this.expect('{');
    const entries: Record<string, HclValue> = {};
    for (;;) {
      this.skip(true);
      if (this.text[this.at] === '}') break;
      const key = this.text[this.at] === '"' ? this.string() : this.identifier();
      this.skip(false);
      if (this.text[this.at] !== '=' && this.text[this.at] !== ':') this.fail('expected = or :');
      this.at++;
      entries[key] = this.parseValue('object');
      this.skip(false);
      if (this.text[this.at] === ',') this.at++;
    }
    this.at++;
    return entries;
  }

  /** The source text of an expression, up to where its context ends it (brackets balanced). */
  private raw(context: 'line' | 'list' | 'object'): string {
    const start = this.at;
    const open: string[] = [];
    while (this.at < this.text.length) {
      const char = this.text[this.at]!;
      if (open.length === 0) {
        if (char === '\n' && context !== 'list') break;
        if (char === ',' && context !== 'line') break;
        if ((char === ']' && context === 'list') || (char === '}' && context === 'object')) break;
        if (char === '#' || this.text.startsWith('//', this.at)) break;
      }
      if (char === '"') {
        this.string();
        continue;
      }
      if (char in CLOSING) open.push(CLOSING[char]!);
      else if (char === ')' || char === ']' || char === '}') {
        if (open.pop() !== char) this.fail(`unbalanced ${char}`);
      }
      this.at++;
    }
    const raw = this.text.slice(start, this.at).trim();
    if (raw.length === 0) this.fail('expected a value');
    return raw;
  }

  /** A quoted string: its template text with escapes resolved and `${…}` kept as written. */
  private string(): string {
    this.expect('"');
    let value = '';
    while (this.text[this.at] !== '"') {
      const char = this.text[this.at];
      if (char === undefined || char === '\n') this.fail('unterminated string');
      if (char === '\\') {
        const escaped = this.text[this.at + 1]!;
        value += escaped === 'n' ? '\n' : escaped === 't' ? '\t' : escaped;
        this.at += 2;
      } else if (this.text.startsWith('${', this.at) || this.text.startsWith('%{', this.at)) {
        const start = this.at;
        this.at += 2;
        this.interpolation();
        value += this.text.slice(start, this.at);
      } else {
        value += char;
        this.at++;
      }
    }
    this.at++;
    return value;
  }

  /** Skips the inside of `${…}` up to and including its closing brace. */
  private interpolation(): void {
    let depth = 1;
    while (depth > 0) {
      const char = this.text[this.at];
      if (char === undefined) this.fail('unterminated interpolation');
      if (char === '"') {
        this.string();
        continue;
      }
      if (char === '{') depth++;
      else if (char === '}') depth--;
      this.at++;
    }
  }

  private identifier(): string {
    IDENTIFIER.lastIndex = this.at;
    const match = IDENTIFIER.exec(this.text);
    if (match === null) this.fail('expected an identifier');
    this.at += match[0].length;
    return match[0];
  }

  /** Skips blanks and comments; newlines too when `newlines`. */
  private skip(newlines: boolean): void {
    for (;;) {
      const char = this.text[this.at];
      if (char === ' ' || char === '\t' || char === '\r' || (newlines && char === '\n')) {
        this.at++;
      } else if (char === '#' || this.text.startsWith('//', this.at)) {
        while (this.at < this.text.length && this.text[this.at] !== '\n') this.at++;
      } else if (this.text.startsWith('/*', this.at)) {
        const end = this.text.indexOf('*/', this.at + 2);
        if (end < 0) this.fail('unterminated comment');
        this.at = end + 2;
      } else return;
    }
  }

  private endOfLine(): void {
    this.skip(false);
    const char = this.text[this.at];
    if (char === '\n') this.at++;
    else if (char !== undefined && char !== '}') this.fail('expected the end of the line');
  }

  private expect(char: string): void {
    if (this.text[this.at] !== char) this.fail(`expected ${char}`);
    this.at++;
  }

  private fail(message: string): never {
    const line = this.text.slice(0, this.at).split('\n').length;
    throw new SyntaxError(`${this.file}:${line}: ${message} (HCL subset of the IaC test)`);
  }
}

/** Parses one `.tf` file of the subset into its body. */
export function parseHcl(text: string, file: string): HclBlock {
  return new Parser(text, file).parseFile();
}
