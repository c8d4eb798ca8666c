// SQS through the AWS SDK for JavaScript v3 (JSON 1.0 protocol). The SDK checks
// MD5OfMessageBody / MD5OfBody itself and throws on a mismatch.
//
// Run by ../test_sdk_v3.sh, which starts sluiced and sets SLUICE_ENDPOINT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  SQSClient, CreateQueueCommand, GetQueueUrlCommand, ListQueuesCommand,
  GetQueueAttributesCommand, SetQueueAttributesCommand, SendMessageCommand,
  SendMessageBatchCommand, ReceiveMessageCommand, DeleteMessageCommand,
  DeleteMessageBatchCommand, ChangeMessageVisibilityCommand,
  ChangeMessageVisibilityBatchCommand, PurgeQueueCommand, DeleteQueueCommand,
} from '@aws-sdk/client-sqs';

const endpoint = process.env.SLUICE_ENDPOINT;
if (!endpoint) {
  console.error('SLUICE_ENDPOINT not set (run through test_sdk_v3.sh)');
  process.exit(2);
}

const sqs = new SQSClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 1,
  requestHandler: { connectionTimeout: 5000, requestTimeout: 30000 },
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SPECIAL = "héllo wörld & = + ~*'()! 😀 a/b?c#d%";
const ATTRS = {
  color: { DataType: 'String', StringValue: 'blue' },
  size: { DataType: 'Number', StringValue: '42' },
  blob: { DataType: 'Binary', BinaryValue: new Uint8Array([0, 1, 2]) },
};
const ATTRS_MD5 = 'b812dfcb966c8d052a5a11c97720d12b';

const md5 = (s) => createHash('md5').update(Buffer.from(s, 'utf8')).digest('hex');
const send = (input) => sqs.send(new SendMessageCommand(input));

async function createQueue(name, Attributes) {
  const r = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes }));
  assert.equal(r.QueueUrl, `${endpoint}/000000000000/${name}`);
  return r.QueueUrl;
}

async function receive(QueueUrl, extra = {}) {
  const r = await sqs.send(new ReceiveMessageCommand({
    QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, ...extra,
  }));
  const msgs = r.Messages ?? [];
  for (const m of msgs) {
    assert.match(m.MessageId, UUID);
    assert.equal(m.MD5OfBody, md5(m.Body));
    assert.ok(m.ReceiptHandle);
  }
  return msgs;
}

async function receiveN(QueueUrl, n, extra = {}) {
  const got = [];
  for (let empty = 0; got.length < n && empty < 5;) {
    const msgs = await receive(QueueUrl, { ...extra, MaxNumberOfMessages: Math.min(10, n - got.length) });
    if (msgs.length === 0) { empty++; await new Promise((r) => setTimeout(r, 100)); }
    got.push(...msgs);
  }
  return got;
}

async function rejects(promise, name, status = 400) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.name, name, `error name (message: ${e.message})`);
    assert.equal(e.$metadata?.httpStatusCode, status);
    return e;
  }
  assert.fail(`expected ${name}, call succeeded`);
}

test('create queue, idempotent re-create, list, get url', async () => {
  const url = await createQueue('js-q', { VisibilityTimeout: '30' });
  assert.equal(await createQueue('js-q', { VisibilityTimeout: '30' }), url);
  const l = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'js-q' }));
  assert.deepEqual(l.QueueUrls, [url]);
  const g = await sqs.send(new GetQueueUrlCommand({ QueueName: 'js-q' }));
  assert.equal(g.QueueUrl, url);
});

test('send with message attributes: MD5s', async () => {
  const url = await createQueue('js-attrs');
  const r = await send({ QueueUrl: url, MessageBody: 'hello world', MessageAttributes: ATTRS });
  assert.match(r.MessageId, UUID);
  assert.equal(r.MD5OfMessageBody, '5eb63bbbe01eeed093cb22bb8f5acdc3');
  assert.equal(r.MD5OfMessageAttributes, ATTRS_MD5);

  const msgs = await receive(url, {
    MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'],
  });
  assert.equal(msgs.length, 1);
  const m = msgs[0];
  assert.equal(m.MessageId, r.MessageId);
  assert.equal(m.Body, 'hello world');
  assert.equal(m.MD5OfMessageAttributes, ATTRS_MD5);
  assert.equal(m.MessageAttributes.color.StringValue, 'blue');
  assert.equal(m.MessageAttributes.color.DataType, 'String');
  assert.equal(m.MessageAttributes.size.StringValue, '42');
  assert.equal(m.MessageAttributes.size.DataType, 'Number');
  assert.equal(m.MessageAttributes.blob.DataType, 'Binary');
  assert.deepEqual(Buffer.from(m.MessageAttributes.blob.BinaryValue), Buffer.from([0, 1, 2]));
  assert.equal(m.Attributes.ApproximateReceiveCount, '1');
  const sent = Number(m.Attributes.SentTimestamp);
  assert.ok(Math.abs(sent - Date.now()) < 300000, `SentTimestamp ${sent} is epoch ms`);
});

test('special characters and CRLF round-trip', async () => {
  const url = await createQueue('js-special');
  const bodies = [SPECIAL, 'line1\r\nline2\r\n', 'cr\ronly', '<a> & </a>', '  spaced  '];
  for (const b of bodies) {
    const r = await send({ QueueUrl: url, MessageBody: b });
    assert.equal(r.MD5OfMessageBody, md5(b));
  }
  const got = await receiveN(url, bodies.length);
  assert.deepEqual(got.map((m) => m.Body).sort(), [...bodies].sort());
});

test('send batch, receive with All attributes, delete batch', async () => {
  const url = await createQueue('js-batch');
  const r = await sqs.send(new SendMessageBatchCommand({
    QueueUrl: url,
    Entries: [
      { Id: 'm1', MessageBody: 'one' },
      { Id: 'm2', MessageBody: 'two', MessageAttributes: { k: { DataType: 'String', StringValue: 'v' } } },
      { Id: 'm3', MessageBody: SPECIAL },
    ],
  }));
  assert.deepEqual((r.Successful ?? []).map((e) => e.Id).sort(), ['m1', 'm2', 'm3']);
  assert.equal((r.Failed ?? []).length, 0);
  const m2 = r.Successful.find((e) => e.Id === 'm2');
  assert.equal(m2.MD5OfMessageAttributes, '0a77b0642718c3d9dd47090567d11e0d');
  assert.equal(m2.MD5OfMessageBody, md5('two'));

  const msgs = await receiveN(url, 3, { AttributeNames: ['All'], MessageAttributeNames: ['All'] });
  assert.deepEqual(msgs.map((m) => m.Body).sort(), ['one', SPECIAL, 'two'].sort());
  for (const m of msgs) {
    assert.ok(m.Attributes.SentTimestamp);
    assert.equal(m.Attributes.ApproximateReceiveCount, '1');
  }
  const d = await sqs.send(new DeleteMessageBatchCommand({
    QueueUrl: url,
    Entries: msgs.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
  }));
  assert.deepEqual((d.Successful ?? []).map((e) => e.Id).sort(), ['d0', 'd1', 'd2']);
  assert.equal((d.Failed ?? []).length, 0);
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
  assert.equal(a.Attributes.ApproximateNumberOfMessages, '0');
  assert.equal(a.Attributes.ApproximateNumberOfMessagesNotVisible, '0');
});

test('change visibility (single and batch) and delete', async () => {
  const url = await createQueue('js-vis');
  await send({ QueueUrl: url, MessageBody: 'v1' });
  await send({ QueueUrl: url, MessageBody: 'v2' });
  let msgs = await receiveN(url, 2);
  assert.equal(msgs.length, 2);
  assert.equal((await receive(url)).length, 0, 'in flight: invisible');

  await sqs.send(new ChangeMessageVisibilityCommand({
    QueueUrl: url, ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: 0,
  }));
  let again = await receive(url, { AttributeNames: ['ApproximateReceiveCount'] });
  assert.deepEqual(again.map((m) => m.MessageId), [msgs[0].MessageId]);
  assert.equal(again[0].Attributes.ApproximateReceiveCount, '2');

  const b = await sqs.send(new ChangeMessageVisibilityBatchCommand({
    QueueUrl: url,
    Entries: [
      { Id: 'a', ReceiptHandle: again[0].ReceiptHandle, VisibilityTimeout: 0 },
      { Id: 'b', ReceiptHandle: msgs[1].ReceiptHandle, VisibilityTimeout: 0 },
    ],
  }));
  assert.deepEqual((b.Successful ?? []).map((e) => e.Id).sort(), ['a', 'b']);
  msgs = await receiveN(url, 2);
  assert.deepEqual(msgs.map((m) => m.Body).sort(), ['v1', 'v2']);
  for (const m of msgs) {
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
  }
  assert.equal((await receive(url, { VisibilityTimeout: 0 })).length, 0);
});

test('FIFO: order within a group, sequence numbers, dedup', async () => {
  const url = await createQueue('js-order.fifo', { FifoQueue: 'true', ContentBasedDeduplication: 'true' });
  const seq = [];
  for (const body of ['f1', 'f2', 'f3']) {
    const r = await send({ QueueUrl: url, MessageBody: body, MessageGroupId: 'g' });
    assert.match(r.SequenceNumber, /^[0-9]+$/);
    seq.push(BigInt(r.SequenceNumber));
  }
  assert.ok(seq[0] < seq[1] && seq[1] < seq[2], `increasing: ${seq}`);
  const dup = await send({ QueueUrl: url, MessageBody: 'f1', MessageGroupId: 'g' });
  const msgs = await receiveN(url, 3, { MessageSystemAttributeNames: ['All'] });
  assert.deepEqual(msgs.map((m) => m.Body), ['f1', 'f2', 'f3']);
  assert.equal(dup.MessageId, msgs[0].MessageId, 'content-based dedup returns the first id');
  assert.equal(msgs[0].Attributes.MessageGroupId, 'g');
  assert.equal(BigInt(msgs[2].Attributes.SequenceNumber), seq[2]);
  assert.equal((await receive(url)).length, 0);
});

test('queue attributes: defaults, set, get', async () => {
  const url = await createQueue('js-attrq');
  let a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes;
  assert.equal(a.VisibilityTimeout, '30');
  assert.equal(a.MaximumMessageSize, '262144');
  assert.equal(a.MessageRetentionPeriod, '345600');
  assert.equal(a.QueueArn, 'arn:aws:sqs:us-east-1:000000000000:js-attrq');
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { VisibilityTimeout: '45' } }));
  a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['VisibilityTimeout'] }))).Attributes;
  assert.deepEqual(a, { VisibilityTimeout: '45' });
});

test('errors surface as modeled exceptions', async () => {
  await rejects(sqs.send(new GetQueueUrlCommand({ QueueName: 'js-nope' })), 'QueueDoesNotExist');
  const nope = `${endpoint}/000000000000/js-nope`;
  const e = await rejects(send({ QueueUrl: nope, MessageBody: 'x' }), 'QueueDoesNotExist');
  assert.equal(e.Code, 'AWS.SimpleQueueService.NonExistentQueue');
  const url = await createQueue('js-err');
  await rejects(sqs.send(new CreateQueueCommand({ QueueName: 'js-err', Attributes: { DelaySeconds: '5' } })),
    'QueueNameExists');
  await rejects(sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: 'garbage' })),
    'ReceiptHandleIsInvalid');
  await rejects(receive(url, { MaxNumberOfMessages: 11 }), 'InvalidParameterValue');
  await rejects(sqs.send(new SendMessageBatchCommand({
    QueueUrl: url, Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: 'b' })),
  })), 'TooManyEntriesInBatchRequest');
  await rejects(send({ QueueUrl: url, MessageBody: 'bad \u0001' }), 'InvalidMessageContents');
});

test('purge, empty long poll, delete queue', async () => {
  const url = await createQueue('js-purge');
  for (let i = 0; i < 3; i++) await send({ QueueUrl: url, MessageBody: `p${i}` });
  await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
  const t0 = Date.now();
  assert.equal((await receive(url, { WaitTimeSeconds: 1 })).length, 0);
  assert.ok(Date.now() - t0 >= 800, 'empty long poll waited');
  await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
  await rejects(sqs.send(new GetQueueUrlCommand({ QueueName: 'js-purge' })), 'QueueDoesNotExist');
});
