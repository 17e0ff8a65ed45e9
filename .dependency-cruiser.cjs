/** The import rules of docs/ARCHITECTURE.md, checked by `npm run lint` (and so by `npm test`). */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes load order matter and layers meaningless.',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'sdk-imports-no-server',
      severity: 'error',
      comment:
        'The client SDK runs in browsers: it may use the protocol, common helpers and (its Node entry) the werift changes, nothing of the server.',
      from: { path: '^src/client/' },
      to: { path: '^src/', pathNot: '^src/(client|protocol|common|werift)/' },
    },
    {
      name: 'web-imports-only-the-sdk',
      severity: 'error',
      comment: 'The web app reaches the server through the SDK and the protocol types only.',
      from: { path: '^web/src/' },
      to: { path: '^src/', pathNot: '^src/(client|protocol|common)/' },
    },
    {
      name: 'protocol-imports-nothing-of-ours',
      severity: 'error',
      comment: 'Message schemas and the error catalog are shared by every side; they depend on zod alone.',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/protocol/' },
    },
    {
      name: 'sfu-knows-no-rooms-or-edges',
      severity: 'error',
      comment:
        'The media plane is below rooms: it knows sessions and tracks, not who is in which room or how they came.',
      from: { path: '^src/(sfu|werift|media)/' },
      to: { path: '^src/(room|host|signaling|http|gateways|workers|auth|config|cli|serve)' },
    },
    {
      name: 'werift-changes-know-only-werift',
      severity: 'error',
      comment: 'src/werift patches the library; it must not depend on what it serves.',
      from: { path: '^src/werift/' },
      to: { path: '^src/', pathNot: '^src/werift/' },
    },
    {
      name: 'edges-through-the-door',
      severity: 'error',
      comment:
        'Edges (signaling, HTTP, WHIP, WHEP, SIP) reach rooms through the room host (src/host/RoomHost.ts), never by importing room or SFU internals.',
      from: { path: '^src/(signaling|http|gateways)/' },
      to: { path: '^src/(room|sfu)/' },
    },
    {
      name: 'edges-see-only-the-door',
      severity: 'error',
      comment:
        'Of src/host, edges see the interface alone; which host serves it is chosen where a server is built.',
      from: { path: '^src/(signaling|http|gateways)/' },
      to: { path: '^src/host/', pathNot: '^src/host/RoomHost\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
