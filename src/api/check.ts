/** The services of whether this kernel has what a package needs, as the command line reaches them: through this layer. */
export * from '../services/check.js';
