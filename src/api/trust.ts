/** The services of the trust policy's decisions and signature checks, as the command line reaches them: through this layer. */
export * from '../services/trust.js';
