/**
 * A value that a fixture sets in `beforeAll` and tests read through a getter. Reading it outside
 * that window (at collection time, in a skipped suite, after `afterAll`) is a mistake in the test,
 * so it throws a message that says so instead of handing out `undefined`.
 */
export class FixtureSlot<T> {
  #value: T | undefined;
  #set = false;

  /** @param description - what the value is, for the error message (`"redisFixture().client"`). */
  constructor(private readonly description: string) {}

  /** The value; throws when the fixture's `beforeAll` has not run or its `afterAll` already ran. */
  get(): T {
    if (!this.#set) {
      throw new Error(
        `${this.description} is only available inside tests and hooks of the suite that created ` +
          'the fixture (after its beforeAll, before its afterAll). Is the suite skipped, or is ' +
          'the value read at collection time?',
      );
    }
    return this.#value as T;
  }

  /** Whether a value is currently set. */
  get isSet(): boolean {
    return this.#set;
  }

  /** Stores the value (called from the fixture's `beforeAll`). */
  set(value: T): void {
    this.#value = value;
    this.#set = true;
  }

  /** Forgets the value (called from the fixture's `afterAll`) and returns what it held, if any. */
  take(): T | undefined {
    const value = this.#value;
    this.#value = undefined;
    this.#set = false;
    return value;
  }
}
