import { conformance } from './conformance.js';
import { MemoryStore } from '../../src/content/memory.js';

conformance('MemoryStore', async () => new MemoryStore());
