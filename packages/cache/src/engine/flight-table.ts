/**
 * The flights running in this process, one per key: a caller of a key that has a flight joins it
 * instead of starting another. A write to the key (`set`, `delete`, write-behind) or to one of the
 * flight's tags supersedes it: it leaves the table at once, so new callers start afresh, and its
 * result stays out of the L1.
 */
import type { Flight } from './flight.js';

/** The flights of one cache, by key. */
export class FlightTable {
  private readonly flights = new Map<string, Flight>();

  get(key: string): Flight | undefined {
    return this.flights.get(key);
  }

  has(key: string): boolean {
    return this.flights.has(key);
  }

  /** Makes `flight` the one callers of `key` join. */
  set(key: string, flight: Flight): void {
    this.flights.set(key, flight);
  }

  /** Removes `flight` if it is still the flight of `key`. */
  retire(key: string, flight: Flight): void {
    if (this.flights.get(key) === flight) this.flights.delete(key);
  }

  /** Supersedes the flight of `key`, if any. */
  supersede(key: string): void {
    const flight = this.flights.get(key);
    if (flight === undefined) return;
    flight.superseded = true;
    this.flights.delete(key);
  }

  /** Supersedes every flight loading a value with one of `tags`. */
  supersedeTagged(tags: readonly string[]): void {
    for (const [key, flight] of this.flights) {
      if (flight.tags.some((tag) => tags.includes(tag))) this.supersede(key);
    }
  }
}
