// undici ships types for its package entry only; these are the modules undici-agent.ts takes
// from its lib/ (CommonJS, each `module.exports =` one value).
declare module 'undici/lib/dispatcher/agent.js' {
  const Agent: unknown;
  export default Agent;
}
declare module 'undici/lib/dispatcher/dispatcher.js' {
  const Dispatcher: unknown;
  export default Dispatcher;
}
declare module 'undici/lib/api/api-request.js' {
  const request: unknown;
  export default request;
}
