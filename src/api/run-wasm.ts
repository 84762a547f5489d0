/** The services of running a package's Wasm program, as the command line reaches them: through this layer. */
export * from '../services/run-wasm.js';
