// The official TypeScript `openai` SDK in front of the gateway, for tests/test_gateway_node.py.
//
//   node resume_stream.mjs create SECONDS       a background stream, dropped (the SDK aborts
//                                               the request on `break`) at the first delta
//                                               after SECONDS
//   node resume_stream.mjs retrieve ID [AFTER]  the stream of ID, from 0 or after event AFTER
//
// Two invocations rather than one, so the test can look at the provider between the drop and
// the resume. Every event the SDK yields goes to stdout as one JSON line, exactly as received,
// for the test to check; `create` ends with one more line, `{"dropped_at": UNIX_SECONDS}`, to
// set against when the provider accepted the create. The gateway's URL and key come from
// GATEWAY_URL and GATEWAY_KEY.
import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: process.env.GATEWAY_URL,
  apiKey: process.env.GATEWAY_KEY,
  maxRetries: 0, // a retry would hide what the gateway answered
});

const print = (event) => process.stdout.write(JSON.stringify(event) + '\n');

async function create(seconds) {
  const started = performance.now();
  const stream = await client.responses.create({
    model: 'o3',
    input: 'Three windows long, from Node.',
    background: true,
    stream: true,
  });
  for await (const event of stream) {
    print(event);
    if (performance.now() - started > seconds * 1000 && event.type.endsWith('.delta')) {
      break; // the connection drops mid-stream: Stream aborts its request
    }
  }
  print({ dropped_at: Date.now() / 1000 });
}

async function retrieve(id, after) {
  const query = after === undefined ? { stream: true } : { stream: true, starting_after: after };
  for await (const event of await client.responses.retrieve(id, query)) {
    print(event);
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'create') {
  await create(Number(args[0]));
} else if (mode === 'retrieve') {
  await retrieve(args[0], args[1] === undefined ? undefined : Number(args[1]));
} else {
  throw new Error(`usage: resume_stream.mjs create SECONDS | retrieve ID [AFTER], got ${mode}`);
}
