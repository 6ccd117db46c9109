//! The ingest Lambda function: see `pynomaly_lambda::ingest`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pynomaly_lambda::ingest::run().await
}
