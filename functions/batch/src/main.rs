//! The batch Lambda function: see `pynomaly_lambda::batch`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pynomaly_lambda::batch::run().await
}
