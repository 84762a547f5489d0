import { main } from './main.js';
import { start } from './start.js';

void start(process.argv.slice(2), main);
