//! The api Lambda function: see `pynomaly_lambda::api`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pynomaly_lambda::api::run().await
}
