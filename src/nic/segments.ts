/**
 * A growable list of bus segments (address, length) in two Float64Arrays: the NIC's scratch
 * gather list. Reused for every request, so the data path allocates no object per page.
 */
export class SegmentList {
  address: Float64Array;
  length: Float64Array;
  count = 0;
  total = 0;

  constructor(capacity = 64) {
    this.address = new Float64Array(capacity);
    this.length = new Float64Array(capacity);
  }

  clear(): void {
    this.count = 0;
    this.total = 0;
  }

  /** Append [address, +length), merging with the previous segment when bus-contiguous. */
  push(address: number, length: number): void {
    const last = this.count - 1;
    if (last >= 0 && this.address[last]! + this.length[last]! === address) {
      this.length[last] = this.length[last]! + length;
    } else {
      if (this.count === this.address.length) this.grow();
      this.address[this.count] = address;
      this.length[this.count] = length;
      this.count++;
    }
    this.total += length;
  }

  private grow(): void {
    const a = new Float64Array(this.address.length * 2);
    const l = new Float64Array(this.address.length * 2);
    a.set(this.address);
    l.set(this.length);
    this.address = a;
    this.length = l;
  }
}
