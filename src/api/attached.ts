/** The services of what is attached to a package: signatures, attestations, SBOMs, as the command line reaches them: through this layer. */
export * from '../services/attached.js';
