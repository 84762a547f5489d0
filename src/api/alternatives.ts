/** The services of which of a program's alternatives this kernel loads, as the command line reaches them: through this layer. */
export * from '../services/alternatives.js';
