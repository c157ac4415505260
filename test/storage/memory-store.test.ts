import { MemoryStore } from '../../src/storage/memory-store.js';
import { objectStoreConformance } from './conformance.js';

objectStoreConformance('MemoryStore', async () => ({
  store: new MemoryStore('conformance'),
  cleanup: async () => {},
}));
