export { useNodeBackend, NODE_BACKENDS, type NodeBackendName, type NodeBackendOptions } from './backend';
