/**
 * The client's address of an HTTP request: the peer that connected, or — only when that peer is a
 * trusted proxy — an address it wrote into `X-Forwarded-For`. A header any client can send is never
 * believed on its own: a spoofed `X-Forwarded-For` from an untrusted peer is ignored.
 */
import { BlockList, isIP } from 'node:net';
import { describeValue } from '@breakwater/core';

/**
 * Which proxies in front of the service are trusted to report the client's address in
 * `X-Forwarded-For`:
 *
 * - `false` (the default): none; the client is the peer that connected.
 * - `true`: every one; the client is the leftmost address of `X-Forwarded-For`. Only safe when
 *   nothing but your proxies can reach the service.
 * - a number `n`: exactly `n` proxies stand in front of the service; the client is the `n`-th
 *   address from the right of `X-Forwarded-For` followed by the peer's address (`1`: one load
 *   balancer).
 * - addresses, CIDR ranges (`'10.0.0.0/8'`, `'fd00::/8'`) or the presets `'loopback'`,
 *   `'linklocal'`, `'uniquelocal'` (private ranges): starting at the peer and going left through
 *   `X-Forwarded-For`, every trusted address is skipped; the first one that is not trusted is the
 *   client.
 */
export type TrustProxy = boolean | number | string | readonly string[];

/** The named ranges `trustProxy` accepts. */
export const TRUST_PROXY_PRESETS: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** The client's address from the peer's address and the `X-Forwarded-For` field, if any. */
export type ClientAddressOf = (
  peer: string | undefined,
  forwardedFor: string | undefined,
) => string | undefined;

/**
 * An address as it is compared and used as a key: IPv4-mapped IPv6 (`::ffff:10.0.0.1`, what a
 * dual-stack socket reports) as plain IPv4, a port (`10.0.0.1:5000`, `[::1]:5000`) and IPv6
 * brackets removed, IPv6 in lower case. Anything that is not an address comes back trimmed.
 */
export function normalizeAddress(raw: string): string {
  let address = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed !== null) address = bracketed[1]!;
  else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d+$/.test(address))
    address = address.slice(0, address.lastIndexOf(':'));
  if (isIP(address) === 6) {
    address = address.toLowerCase();
    const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
    if (mapped !== null) address = mapped[1]!;
  }
  return address;
}

/** The entries of an `X-Forwarded-For` field, left to right, normalised; empty ones dropped. */
function forwardedAddresses(field: string | undefined): string[] {
  if (field === undefined) return [];
  return field
    .split(',')
    .map(normalizeAddress)
    .filter((entry) => entry.length > 0);
}

/**
 * Compiles `trustProxy` into the function that finds a request's client address.
 * @throws {TypeError | RangeError} naming `trustProxy` (or the entry) and the value received.
 */
export function clientAddressResolver(trustProxy: unknown): ClientAddressOf {
  const peerOnly: ClientAddressOf = (peer) =>
    peer === undefined ? undefined : normalizeAddress(peer);
  if (trustProxy === undefined || trustProxy === false) return peerOnly;
  if (trustProxy === true) {
    return (peer, forwardedFor) => forwardedAddresses(forwardedFor)[0] ?? peerOnly(peer, undefined);
  }
  if (typeof trustProxy === 'number') {
    if (!Number.isInteger(trustProxy) || trustProxy < 0) {
      throw new RangeError(
        `Expected \`trustProxy\` to be an integer >= 0 (the number of proxies), got ${describeValue(trustProxy)}`,
      );
    }
    const hops = trustProxy;
    if (hops === 0) return peerOnly;
    return (peer, forwardedFor) => {
      if (peer === undefined) return undefined;
      const chain = [...forwardedAddresses(forwardedFor), normalizeAddress(peer)];
      return chain[Math.max(0, chain.length - 1 - hops)];
    };
  }
  const entries = typeof trustProxy === 'string' ? [trustProxy] : trustProxy;
  if (!Array.isArray(entries)) {
    throw new TypeError(
      `Expected \`trustProxy\` to be a boolean, a number of proxies, or addresses / CIDR ranges, got ${describeValue(trustProxy)}`,
    );
  }
  const trusted = trustedList(entries, typeof trustProxy === 'string');
  const isTrusted = (address: string): boolean => {
    const family = isIP(address);
    return family !== 0 && trusted.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
  return (peer, forwardedFor) => {
    if (peer === undefined) return undefined;
    let client = normalizeAddress(peer);
    if (!isTrusted(client)) return client;
    const forwarded = forwardedAddresses(forwardedFor);
    // Each address reached here was written by a trusted proxy; the first one not trusted itself
    // is the client.
    for (let i = forwarded.length - 1; i >= 0; i--) {
      client = forwarded[i]!;
      if (!isTrusted(client)) return client;
    }
    return client;
  };
}

/** The `BlockList` of the trusted addresses and ranges; each entry is validated. */
function trustedList(entries: readonly unknown[], single: boolean): BlockList {
  const list = new BlockList();
  entries.forEach((entry, i) => {
    const name = single ? 'trustProxy' : `trustProxy[${i}]`;
    const ranges = typeof entry === 'string' ? TRUST_PROXY_PRESETS[entry] : undefined;
    for (const range of ranges ?? [entry]) addRange(list, name, range);
  });
  return list;
}

function addRange(list: BlockList, name: string, entry: unknown): void {
  const fail: () => never = () => {
    throw new RangeError(
      `Expected \`${name}\` to be an IP address, a CIDR range or one of ${Object.keys(
        TRUST_PROXY_PRESETS,
      )
        .map((preset) => `'${preset}'`)
        .join(' | ')}, got ${describeValue(entry)}`,
    );
  };
  if (typeof entry !== 'string') fail();
  const slash = entry.indexOf('/');
  const address = normalizeAddress(slash < 0 ? entry : entry.slice(0, slash));
  const family = isIP(address);
  if (family === 0) fail();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (slash < 0) {
    list.addAddress(address, type);
    return;
  }
  const bits = entry.slice(slash + 1);
  const prefix = Number(bits);
  if (!/^\d{1,3}$/.test(bits) || prefix > (family === 4 ? 32 : 128)) fail();
  list.addSubnet(address, prefix, type);
}
