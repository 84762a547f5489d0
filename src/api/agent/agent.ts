/** The services of the agent that keeps instances running (ebpm agent), as the command line reaches them: through this layer. */
export * from '../../services/agent/agent.js';
