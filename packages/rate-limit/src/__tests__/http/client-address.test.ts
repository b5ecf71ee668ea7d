/**
 * How the client address is found: the peer unless a proxy is trusted, then `X-Forwarded-For`
 * read from the right, by hop count or by trusted ranges.
 */
import { describe, expect, it } from 'vitest';
import { clientAddressResolver, normalizeAddress } from '../../http/client-address.js';

describe('normalizeAddress', () => {
  it.each([
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::FFFF:127.0.0.1', '127.0.0.1'],
    ['10.1.2.3:5000', '10.1.2.3'],
    ['[2001:DB8::1]:443', '2001:db8::1'],
    ['[::1]', '::1'],
    ['  192.0.2.1 ', '192.0.2.1'],
    ['2001:DB8::2', '2001:db8::2'],
    ['unknown', 'unknown'],
  ])('%s → %s', (raw, expected) => {
    expect(normalizeAddress(raw)).toBe(expected);
  });
});

describe('clientAddressResolver', () => {
  const xff = '198.51.100.7, 203.0.113.1, 10.0.0.2';

  it('trusts no proxy by default: the peer, whatever X-Forwarded-For says', () => {
    for (const setting of [undefined, false, 0]) {
      const resolve = clientAddressResolver(setting);
      expect(resolve('::ffff:10.0.0.1', xff)).toBe('10.0.0.1');
      expect(resolve(undefined, xff)).toBeUndefined();
    }
  });

  it('true: the leftmost address, or the peer without the field', () => {
    const resolve = clientAddressResolver(true);
    expect(resolve('10.0.0.1', xff)).toBe('198.51.100.7');
    expect(resolve('10.0.0.1', undefined)).toBe('10.0.0.1');
  });

  it('a hop count: that many addresses from the right of X-Forwarded-For and the peer', () => {
    expect(clientAddressResolver(1)('10.0.0.1', xff)).toBe('10.0.0.2');
    expect(clientAddressResolver(2)('10.0.0.1', xff)).toBe('203.0.113.1');
    expect(clientAddressResolver(3)('10.0.0.1', xff)).toBe('198.51.100.7');
    // More hops than addresses: the leftmost.
    expect(clientAddressResolver(9)('10.0.0.1', xff)).toBe('198.51.100.7');
    expect(clientAddressResolver(1)('10.0.0.1', undefined)).toBe('10.0.0.1');
  });

  it('trusted ranges: skips trusted addresses from the right, the first untrusted is the client', () => {
    const resolve = clientAddressResolver(['10.0.0.0/8']);
    expect(resolve('10.0.0.1', xff)).toBe('203.0.113.1');
    // An untrusted peer's X-Forwarded-For is ignored.
    expect(resolve('192.0.2.9', xff)).toBe('192.0.2.9');
    // Every address trusted: the leftmost.
    expect(resolve('10.0.0.1', '10.9.9.9, 10.0.0.2')).toBe('10.9.9.9');
    expect(clientAddressResolver('uniquelocal')('::ffff:10.0.0.1', xff)).toBe('203.0.113.1');
    expect(clientAddressResolver(['loopback'])('::1', '2001:db8::7')).toBe('2001:db8::7');
    expect(clientAddressResolver('192.0.2.9')('192.0.2.9', '203.0.113.5')).toBe('203.0.113.5');
    expect(clientAddressResolver('2001:db8::/32')('2001:db8::1', '203.0.113.5')).toBe(
      '203.0.113.5',
    );
  });

  it.each([
    [-1, RangeError, 'Expected `trustProxy` to be an integer >= 0 (the number of proxies), got -1'],
    [1.5, RangeError, 'got 1.5'],
    [{}, TypeError, 'Expected `trustProxy` to be a boolean, a number of proxies, or addresses'],
    [
      'nope',
      RangeError,
      "Expected `trustProxy` to be an IP address, a CIDR range or one of 'loopback' | 'linklocal' | 'uniquelocal', got \"nope\"",
    ],
    [['10.0.0.0/8', '10.0.0.0/33'], RangeError, 'Expected `trustProxy[1]` to be an IP address'],
    [['10.0.0.0/x'], RangeError, 'got "10.0.0.0/x"'],
    [['::/129'], RangeError, 'got "::/129"'],
    [[42], RangeError, 'Expected `trustProxy[0]` to be an IP address, a CIDR range or one of'],
  ])('rejects trustProxy %j', (value, type, message) => {
    expect(() => clientAddressResolver(value)).toThrow(type);
    expect(() => clientAddressResolver(value)).toThrow(message);
  });
});
