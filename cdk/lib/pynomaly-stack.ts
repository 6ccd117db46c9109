// Pynomaly on AWS: the same resources as ../template.yaml (SAM) and ../terraform/, held
// together by scripts/check-stack-drift. Change one, change all three.
import * as fs from 'fs';
import * as path from 'path';
import { CfnOutput, Duration, Stack, StackProps, Tags } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface PynomalyStackProps extends StackProps {
  /** Directory holding `pynomaly-{api,batch,ingest}/bootstrap.zip` (scripts/build-lambdas). */
  readonly lambdaDir: string;
  /** Architecture the zips were built for. */
  readonly architecture?: lambda.Architecture;
  /** Tenant whose models score files dropped under incoming/<model id>/. */
  readonly ingestTenant?: string;
  /** Dropped CSV/NDJSON files above this size are scored in parallel parts. */
  readonly chunkBytes?: number;
  /** Deliveries before a message goes to the dead-letter queue. */
  readonly maxReceives?: number;
  /** Optional SNS topic for the alarms. */
  readonly alarmTopicArn?: string;
  /** Optional JWT issuer: API Gateway then also requires a JWT (the API key goes in x-api-key). */
  readonly jwtIssuer?: string;
  /** Audiences the JWT authorizer accepts. */
  readonly jwtAudience?: string[];
}

export function parseArchitecture(name: string): lambda.Architecture {
  switch (name) {
    case 'arm64':
      return lambda.Architecture.ARM_64;
    case 'x86_64':
      return lambda.Architecture.X86_64;
    default:
      throw new Error(`architecture must be arm64 or x86_64, got "${name}"`);
  }
}

/** Memory, timeout and description of each function; the same numbers as SAM and Terraform. */
const FUNCTIONS = {
  api: { memory: 1024, timeout: 30, description: 'Pynomaly HTTP API' },
  batch: { memory: 1024, timeout: 900, description: 'Pynomaly SQS batch scoring' },
  ingest: { memory: 512, timeout: 300, description: 'Pynomaly S3 drop folder' },
} as const;
type FunctionName = keyof typeof FUNCTIONS;

export class PynomalyStack extends Stack {
  public readonly functions: Record<FunctionName, lambda.Function>;

  constructor(scope: Construct, id: string, props: PynomalyStackProps) {
    super(scope, id, props);
    const maxReceives = props.maxReceives ?? 5;
    const chunkBytes = props.chunkBytes ?? 8 * 1024 * 1024;
    const ingestTenant = props.ingestTenant ?? 'default';
    if (!Number.isInteger(maxReceives) || maxReceives < 1 || maxReceives > 1000) {
      throw new Error(`maxReceives must be 1..1000, got ${maxReceives}`);
    }
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1024) {
      throw new Error(`chunkBytes must be at least 1024, got ${chunkBytes}`);
    }
    if (!/^[a-z0-9_-]{1,64}$/.test(ingestTenant)) {
      throw new Error(`ingestTenant must match [a-z0-9_-]{1,64}, got "${ingestTenant}"`);
    }
    Tags.of(this).add('project', 'pynomaly');

    const bucket = new s3.Bucket(this, 'DataBucket', {
      bucketName: `${this.stackName}-data-${this.account}-${this.region}`,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Versioning keeps overwritten results; old versions and abandoned uploads expire.
      lifecycleRules: [
        {
          id: 'expire-old-versions',
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
    });

    const table = new dynamodb.Table(this, 'JobsTable', {
      tableName: `${this.stackName}-jobs`,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
    });

    const deadLetterQueue = new sqs.Queue(this, 'JobsDeadLetterQueue', {
      queueName: `${this.stackName}-jobs-dlq`,
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
    });
    // S3 invokes the ingest function asynchronously: an event it still fails on after Lambda's
    // retries lands here instead of being dropped.
    const ingestDeadLetterQueue = new sqs.Queue(this, 'IngestDeadLetterQueue', {
      queueName: `${this.stackName}-ingest-dlq`,
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
    });
    const queue = new sqs.Queue(this, 'JobsQueue', {
      queueName: `${this.stackName}-jobs`,
      // Six times the batch function's timeout, as Lambda recommends for SQS sources.
      visibilityTimeout: Duration.seconds(6 * FUNCTIONS.batch.timeout),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: maxReceives },
    });

    // Stream points, the entity as message group: a FIFO queue keeps each entity's points in
    // order; its dead-letter queue must be FIFO too.
    const pointsDeadLetterQueue = new sqs.Queue(this, 'PointsDeadLetterQueue', {
      queueName: `${this.stackName}-points-dlq.fifo`,
      fifo: true,
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
    });
    const pointsQueue = new sqs.Queue(this, 'PointsQueue', {
      queueName: `${this.stackName}-points.fifo`,
      fifo: true,
      contentBasedDeduplication: true,
      visibilityTimeout: Duration.seconds(6 * FUNCTIONS.batch.timeout),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      deadLetterQueue: { queue: pointsDeadLetterQueue, maxReceiveCount: maxReceives },
    });

    const environment = {
      PYNOMALY_STORE: 'aws',
      PYNOMALY_BUCKET: bucket.bucketName,
      PYNOMALY_TABLE: table.tableName,
      PYNOMALY_QUEUE_URL: queue.queueUrl,
      PYNOMALY_MAX_RECEIVES: String(maxReceives),
      PYNOMALY_INGEST_TENANT: ingestTenant,
      PYNOMALY_CHUNK_BYTES: String(chunkBytes),
      // Matrix products on the invoking thread (matrixmultiply's own pool would spin).
      MATMUL_NUM_THREADS: '1',
    };
    const makeFunction = (name: FunctionName): lambda.Function => {
      const zip = path.join(props.lambdaDir, `pynomaly-${name}`, 'bootstrap.zip');
      if (!fs.existsSync(zip)) {
        throw new Error(`${zip} not found: build the functions first (scripts/build-lambdas)`);
      }
      const settings = FUNCTIONS[name];
      const fn = new lambda.Function(this, `${name[0].toUpperCase()}${name.slice(1)}Function`, {
        functionName: `${this.stackName}-${name}`,
        description: settings.description,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        handler: 'bootstrap',
        architecture: props.architecture ?? lambda.Architecture.ARM_64,
        code: lambda.Code.fromAsset(zip),
        memorySize: settings.memory,
        timeout: Duration.seconds(settings.timeout),
        tracing: lambda.Tracing.ACTIVE,
        loggingFormat: lambda.LoggingFormat.JSON,
        environment,
        deadLetterQueue: name === 'ingest' ? ingestDeadLetterQueue : undefined,
      });
      bucket.grantReadWrite(fn);
      table.grantReadWriteData(fn);
      return fn;
    };
    this.functions = { api: makeFunction('api'), batch: makeFunction('batch'), ingest: makeFunction('ingest') };
    const { api, batch, ingest } = this.functions;
    queue.grantSendMessages(api);
    queue.grantSendMessages(ingest);

    batch.addEventSource(new SqsEventSource(queue, { batchSize: 10, reportBatchItemFailures: true }));
    batch.addEventSource(new SqsEventSource(pointsQueue, { batchSize: 10, reportBatchItemFailures: true }));
    // Only dropped files: results/ and error objects never trigger the function.
    bucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.LambdaDestination(ingest), {
      prefix: 'incoming/',
    });

    const httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: `${this.stackName}-api`,
      description: 'Pynomaly HTTP API',
      defaultIntegration: new HttpLambdaIntegration('ApiIntegration', api),
      defaultAuthorizer: props.jwtIssuer
        ? new HttpJwtAuthorizer('jwt', props.jwtIssuer, { jwtAudience: props.jwtAudience ?? [] })
        : undefined,
    });
    const accessLogs = new logs.LogGroup(this, 'HttpApiAccessLogs', {
      logGroupName: `/aws/apigateway/${this.stackName}-api`,
      retention: logs.RetentionDays.ONE_YEAR,
    });
    const defaultStage = httpApi.defaultStage?.node.defaultChild as apigwv2.CfnStage;
    defaultStage.accessLogSettings = {
      destinationArn: accessLogs.logGroupArn,
      format: JSON.stringify({
        requestId: '$context.requestId',
        ip: '$context.identity.sourceIp',
        requestTime: '$context.requestTime',
        method: '$context.httpMethod',
        path: '$context.path',
        status: '$context.status',
        responseLength: '$context.responseLength',
        latencyMs: '$context.responseLatency',
        integrationError: '$context.integrationErrorMessage',
      }),
    };

    const alarmTopic = props.alarmTopicArn
      ? sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)
      : undefined;
    const alarm = (id: string, description: string, metric: cloudwatch.Metric) => {
      const created = new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (alarmTopic) created.addAlarmAction(new cloudwatchActions.SnsAction(alarmTopic));
    };
    const fiveMinutes = Duration.minutes(5);
    alarm(
      'DeadLetterAlarm',
      'Messages reached the dead-letter queue (their jobs say why).',
      deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: fiveMinutes }),
    );
    alarm(
      'IngestDeadLetterAlarm',
      'S3 events the ingest function gave up on (the files were not scored).',
      ingestDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: fiveMinutes }),
    );
    alarm(
      'PointsDeadLetterAlarm',
      'Stream points messages the batch function gave up on (their entities wait behind them until then).',
      pointsDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: fiveMinutes }),
    );
    for (const [name, fn] of Object.entries(this.functions)) {
      const id = `${name[0].toUpperCase()}${name.slice(1)}ErrorsAlarm`;
      alarm(id, `The ${name} function failed.`, fn.metricErrors({ statistic: 'Sum', period: fiveMinutes }));
    }

    new CfnOutput(this, 'ApiUrl', { description: 'Base URL of the HTTP API (try GET /health).', value: httpApi.apiEndpoint });
    new CfnOutput(this, 'DataBucketName', {
      description: 'Drop files under incoming/<model id>/; results appear under results/.',
      value: bucket.bucketName,
    });
    new CfnOutput(this, 'JobsTableName', { description: 'DynamoDB table of job records.', value: table.tableName });
    new CfnOutput(this, 'JobsQueueUrl', { description: 'SQS queue of job and chunk messages.', value: queue.queueUrl });
    new CfnOutput(this, 'PointsQueueUrl', {
      description: 'FIFO SQS queue of stream points (message group = entity).',
      value: pointsQueue.queueUrl,
    });
    new CfnOutput(this, 'PointsDeadLetterQueueUrl', {
      description: `Stream points messages that failed ${maxReceives} times.`,
      value: pointsDeadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      description: `Messages that failed ${maxReceives} times.`,
      value: deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'IngestDeadLetterQueueUrl', {
      description: 'S3 events the ingest function could not handle.',
      value: ingestDeadLetterQueue.queueUrl,
    });
  }
}
