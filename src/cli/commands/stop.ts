import { instanceCommand } from './instance-op.js';

export default instanceCommand('stop', 'stopped', 'Stop an agent instance until `ebpm start` (its programs detach).');
