/**
 * Redis Cluster slot arithmetic (CRC16/XMODEM of the hash tag, modulo 16384), used to check in
 * development that all keys of a script share one slot: a single-node Redis accepts keys from
 * different slots, so without the check the mistake would first show in production, on a Cluster,
 * as a CROSSSLOT error.
 */

/** Number of hash slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

const CRC16_TABLE = buildCrc16Table();

function buildCrc16Table(): Uint16Array {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    }
    table[byte] = crc & 0xffff;
  }
  return table;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * The bytes of `key` Redis hashes to pick its slot: the content of the first `{…}` when it is
 * non-empty, otherwise the whole key.
 */
export function hashTagBytes(key: string | Uint8Array): Uint8Array {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const open = bytes.indexOf(OPEN_BRACE);
  if (open === -1) return bytes;
  const close = bytes.indexOf(CLOSE_BRACE, open + 1);
  if (close === -1 || close === open + 1) return bytes;
  return bytes.subarray(open + 1, close);
}

/** The Redis Cluster slot of `key` (0–16383), as `CLUSTER KEYSLOT` computes it. */
export function keySlot(key: string | Uint8Array): number {
  const bytes = hashTagBytes(key);
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) {
    crc = ((crc << 8) & 0xff00) ^ CRC16_TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  }
  return crc % CLUSTER_SLOTS;
}
