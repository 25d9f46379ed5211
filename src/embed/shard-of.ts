/** The shard an image belongs to: the first 48 bits of its sha256, modulo `count`. Stable across machines. */
export function shardOf(imageSha: string, count: number): number {
  return Number(BigInt(`0x${imageSha.slice(0, 12)}`) % BigInt(count));
}
