import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PynomalyStack, PynomalyStackProps, parseArchitecture } from '../lib/pynomaly-stack';

// Placeholder zips stand in for `scripts/build-lambdas` output: the assertions are about
// the resources, not the code inside.
const lambdaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pynomaly-cdk-'));
for (const name of ['api', 'batch', 'ingest']) {
  fs.mkdirSync(path.join(lambdaDir, `pynomaly-${name}`));
  fs.writeFileSync(path.join(lambdaDir, `pynomaly-${name}`, 'bootstrap.zip'), `placeholder ${name}`);
}
afterAll(() => fs.rmSync(lambdaDir, { recursive: true, force: true }));

const env = { account: '123456789012', region: 'us-east-1' };
function synth(props: Partial<PynomalyStackProps> = {}): Template {
  const app = new App();
  return Template.fromStack(new PynomalyStack(app, 'pynomaly', { env, lambdaDir, ...props }));
}
const template = synth();

/** The IAM policy statements attached to the named function's role. */
function statementsOf(t: Template, functionName: string): { Action: string | string[] }[] {
  const functions = t.findResources('AWS::Lambda::Function', { Properties: { FunctionName: functionName } });
  const [fn] = Object.values(functions);
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  const policies = t.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
  });
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
}
const actionsOf = (t: Template, fn: string) => statementsOf(t, fn).flatMap((s) => [s.Action].flat());

test('three Rust functions on provided.al2023, arm64, bootstrap', () => {
  for (const [name, memory, timeout] of [
    ['api', 1024, 30],
    ['batch', 1024, 900],
    ['ingest', 512, 300],
  ] as const) {
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: `pynomaly-${name}`,
      Runtime: 'provided.al2023',
      Handler: 'bootstrap',
      Architectures: ['arm64'],
      MemorySize: memory,
      Timeout: timeout,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogFormat: 'JSON' },
      Environment: {
        Variables: Match.objectLike({ PYNOMALY_STORE: 'aws', PYNOMALY_MAX_RECEIVES: '5', PYNOMALY_CHUNK_BYTES: '8388608', MATMUL_NUM_THREADS: '1' }),
      },
    });
  }
});

test('the batch function reads both queues in batches of 10 with partial failures', () => {
  template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
  for (const queue of ['JobsQueue', 'PointsQueue']) {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^${queue}`), 'Arn'] },
      FunctionName: { Ref: Match.stringLikeRegexp('^BatchFunction') },
    });
  }
  template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    BatchSize: 10,
    FunctionResponseTypes: ['ReportBatchItemFailures'],
    FunctionName: { Ref: Match.stringLikeRegexp('^BatchFunction') },
  });
});

test('the queue redrives to an encrypted dead-letter queue after 5 receives', () => {
  template.hasResourceProperties('AWS::SQS::Queue', {
    QueueName: 'pynomaly-jobs',
    VisibilityTimeout: 5400,
    SqsManagedSseEnabled: true,
    RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
  });
  template.hasResourceProperties('AWS::SQS::Queue', {
    QueueName: 'pynomaly-jobs-dlq',
    MessageRetentionPeriod: 1209600,
    SqsManagedSseEnabled: true,
  });
});

test('the job table is on demand, encrypted, with point-in-time recovery', () => {
  template.hasResourceProperties('AWS::DynamoDB::Table', {
    TableName: 'pynomaly-jobs',
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    SSESpecification: { SSEEnabled: true },
  });
});

test('the data bucket is encrypted, versioned, private and TLS only', () => {
  template.hasResourceProperties('AWS::S3::Bucket', {
    BucketName: 'pynomaly-data-123456789012-us-east-1',
    BucketEncryption: {
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    },
    VersioningConfiguration: { Status: 'Enabled' },
    PublicAccessBlockConfiguration: {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    },
  });
  template.hasResourceProperties('AWS::S3::BucketPolicy', {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      ]),
    },
  });
});

test('S3 events the ingest function fails on go to a dead-letter queue', () => {
  template.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'pynomaly-ingest-dlq', SqsManagedSseEnabled: true });
  template.hasResourceProperties('AWS::Lambda::Function', {
    FunctionName: 'pynomaly-ingest',
    DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IngestDeadLetterQueue'), 'Arn'] } },
  });
  expect(actionsOf(template, 'pynomaly-ingest')).toContain('sqs:SendMessage');
});

test('old object versions and abandoned uploads expire', () => {
  template.hasResourceProperties('AWS::S3::Bucket', {
    LifecycleConfiguration: {
      Rules: [
        Match.objectLike({
          Status: 'Enabled',
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
        }),
      ],
    },
  });
});

test('API access logs go to a log group kept for a year', () => {
  template.hasResourceProperties('AWS::Logs::LogGroup', {
    LogGroupName: '/aws/apigateway/pynomaly-api',
    RetentionInDays: 365,
  });
  template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
    StageName: '$default',
    AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^HttpApiAccessLogs'), 'Arn'] } },
  });
});

test('only incoming/ notifies the ingest function', () => {
  template.hasResourceProperties('Custom::S3BucketNotifications', {
    NotificationConfiguration: {
      LambdaFunctionConfigurations: [
        {
          Events: ['s3:ObjectCreated:*'],
          Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'incoming/' }] } },
          LambdaFunctionArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IngestFunction'), 'Arn'] },
        },
      ],
    },
  });
});

test('policies are least privilege: only api and ingest send, only batch consumes', () => {
  expect(actionsOf(template, 'pynomaly-api')).toContain('sqs:SendMessage');
  expect(actionsOf(template, 'pynomaly-ingest')).toContain('sqs:SendMessage');
  expect(actionsOf(template, 'pynomaly-batch')).not.toContain('sqs:SendMessage');
  expect(actionsOf(template, 'pynomaly-batch')).toContain('sqs:ReceiveMessage');
  expect(actionsOf(template, 'pynomaly-api')).not.toContain('sqs:ReceiveMessage');
  for (const fn of ['pynomaly-api', 'pynomaly-batch', 'pynomaly-ingest']) {
    expect(actionsOf(template, fn)).not.toContain('*');
    expect(actionsOf(template, fn)).not.toContain('dynamodb:*');
  }
});

test('the HTTP API sends every route to the api function, without JWT by default', () => {
  template.hasResourceProperties('AWS::ApiGatewayV2::Api', { Name: 'pynomaly-api', ProtocolType: 'HTTP' });
  template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
    IntegrationType: 'AWS_PROXY',
    PayloadFormatVersion: '2.0',
  });
  template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default', AuthorizationType: 'NONE' });
  template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
});

test('a JWT issuer adds a JWT authorizer on the default route', () => {
  const withJwt = synth({ jwtIssuer: 'https://issuer.example.com', jwtAudience: ['client-a'] });
  withJwt.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
    AuthorizerType: 'JWT',
    IdentitySource: ['$request.header.Authorization'],
    JwtConfiguration: { Issuer: 'https://issuer.example.com', Audience: ['client-a'] },
  });
  withJwt.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default', AuthorizationType: 'JWT' });
});

test('the points queue is FIFO, deduplicated, redriving to a FIFO dead-letter queue', () => {
  template.hasResourceProperties('AWS::SQS::Queue', {
    QueueName: 'pynomaly-points.fifo',
    FifoQueue: true,
    ContentBasedDeduplication: true,
    SqsManagedSseEnabled: true,
    RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
  });
  template.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'pynomaly-points-dlq.fifo', FifoQueue: true });
});

test('alarms on the three dead-letter queues and on each function', () => {
  template.resourceCountIs('AWS::CloudWatch::Alarm', 6);
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: 'AWS/SQS',
    MetricName: 'ApproximateNumberOfMessagesVisible',
    Statistic: 'Maximum',
    Threshold: 0,
    ComparisonOperator: 'GreaterThanThreshold',
  });
  for (const name of ['Api', 'Batch', 'Ingest']) {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp(`^${name}Function`) } }],
    });
  }
  const withTopic = synth({ alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:ops' });
  withTopic.hasResourceProperties('AWS::CloudWatch::Alarm', {
    AlarmActions: ['arn:aws:sns:us-east-1:123456789012:ops'],
  });
});

test('the outputs a user needs', () => {
  for (const name of ['ApiUrl', 'DataBucketName', 'JobsTableName', 'JobsQueueUrl', 'DeadLetterQueueUrl', 'IngestDeadLetterQueueUrl', 'PointsQueueUrl', 'PointsDeadLetterQueueUrl']) {
    template.hasOutput(name, {});
  }
});

test('bad settings are rejected with a clear message', () => {
  expect(() => parseArchitecture('sparc')).toThrow(/arm64 or x86_64/);
  expect(() => synth({ maxReceives: 0 })).toThrow(/maxReceives/);
  expect(() => synth({ chunkBytes: 10 })).toThrow(/chunkBytes/);
  expect(() => synth({ ingestTenant: 'Bad Tenant' })).toThrow(/ingestTenant/);
  expect(() => synth({ lambdaDir: path.join(lambdaDir, 'missing') })).toThrow(/scripts\/build-lambdas/);
});
