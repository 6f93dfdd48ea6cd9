/** Machine assembly: hosts, their NICs and the fabric between them. */
export { Host, type HostSpec, type NicSpec, type HostNic, type LowMemoryStrategy } from './host.ts';
export { Cluster, createCluster, type ClusterSpec } from './cluster.ts';
export { PciBus, PCI_BUS_SERVICE } from './pci-bus-driver.ts';
export { snapshot, difference, leakedCounters, type ResourceSnapshot } from './accounting.ts';
export { HostNode, monotonicNs, type HostNodeSpec, type HostNodeTeardown } from './host-node.ts';
export { runExchange, pairSeed, type HostRole, type ExchangeOptions, type ExchangeEvent, type ExchangeResult, type StreamResult } from './exchange.ts';
