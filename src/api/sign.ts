/** The services of signing, keys and signatures, as the command line reaches them: through this layer. */
export * from '../services/sign.js';
