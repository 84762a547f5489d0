import { instanceCommand } from './instance-op.js';

export default instanceCommand('start', 'started', 'Start an agent instance that was stopped or ended.');
