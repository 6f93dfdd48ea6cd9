/**
 * The single fault-injection point. Every allocation path in the kernel (pages, pool, MDLs,
 * contiguous memory, common buffers, map registers, IRPs, system PTEs) asks `shouldFail`
 * before it allocates, so Low Resources Simulation and the systematic sweep can fail any of
 * them on purpose. [devtest: "Low Resources Simulation", "Systematic Low Resources Simulation"]
 */
export interface AllocationSite {
  /** Which routine allocates, e.g. "ExAllocatePool2", "MmAllocateContiguousMemorySpecifyCache". */
  site: string;
  /** Pool tag or 0. */
  tag?: number;
  bytes: number;
  /** Driver name when known. */
  driver?: string;
}

export type FaultPolicy =
  | { kind: 'none' }
  /** Fail the n-th matching allocation (1-based), once. */
  | { kind: 'nth'; n: number }
  /** Fail each matching allocation with probability p, from a seeded generator. */
  | { kind: 'probability'; p: number; seed: number }
  /** Fail every matching allocation. */
  | { kind: 'always' };

export interface FaultFilter {
  sites?: readonly string[];
  tags?: readonly number[];
  drivers?: readonly string[];
}

export interface InjectedFault extends AllocationSite {
  ordinal: number;
}

/** The largest seed seededRandom distinguishes: it keeps 32 bits, so larger seeds would wrap. */
export const SEED_MAX = 0xffff_ffff;

/** mulberry32: small, fast, seedable; enough for fault schedules. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultInjector {
  private policy: FaultPolicy = { kind: 'none' };
  private filter: FaultFilter = {};
  private random: () => number = seededRandom(1);
  /** Matching allocations seen since the policy was set. */
  matched = 0;
  /** Every allocation seen, by site (the sweep uses this to count sites and runs). */
  readonly sitesSeen = new Map<string, number>();
  readonly injected: InjectedFault[] = [];

  setPolicy(policy: FaultPolicy, filter: FaultFilter = {}): void {
    if (policy.kind === 'nth' && !(Number.isSafeInteger(policy.n) && policy.n >= 1)) {
      throw new RangeError(`fault policy nth: n must be an integer >= 1, got ${policy.n}`);
    }
    if (policy.kind === 'probability' && !(policy.p >= 0 && policy.p <= 1)) {
      throw new RangeError(`fault policy probability: p must be in [0, 1], got ${policy.p}`);
    }
    this.policy = policy;
    this.filter = filter;
    this.matched = 0;
    if (policy.kind === 'probability') this.random = seededRandom(policy.seed);
  }

  /** Called by every allocation path; true means "fail this allocation". */
  shouldFail(request: AllocationSite): boolean {
    this.sitesSeen.set(request.site, (this.sitesSeen.get(request.site) ?? 0) + 1);
    if (this.policy.kind === 'none' || !this.matches(request)) return false;
    this.matched++;
    let fail: boolean;
    switch (this.policy.kind) {
      case 'nth':
        fail = this.matched === this.policy.n;
        break;
      case 'probability':
        fail = this.random() < this.policy.p;
        break;
      case 'always':
        fail = true;
        break;
    }
    if (fail) this.injected.push({ ...request, ordinal: this.matched });
    return fail;
  }

  private matches(r: AllocationSite): boolean {
    const f = this.filter;
    if (f.sites && !f.sites.includes(r.site)) return false;
    if (f.tags && !f.tags.includes(r.tag ?? 0)) return false;
    if (f.drivers && !(r.driver !== undefined && f.drivers.includes(r.driver))) return false;
    return true;
  }
}
