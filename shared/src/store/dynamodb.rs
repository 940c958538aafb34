//! The AWS backend: one DynamoDB table (`pk`/`sk`, GSIs `gsi1` and `gsi2`, TTL `expires_at`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
    TransactWriteItem,
};

use super::StoreError;
use super::table::{Condition, Index, Item, Key, Query, SkRange, Table, WriteOp, prefix_upper_bound};
use crate::clock;

type Attributes = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table_name: String,
}

/// Maps an SDK error to a store error; throttling and transport failures are retryable.
fn sdk_error<E: ProvideErrorMetadata + std::fmt::Debug>(error: SdkError<E>) -> StoreError {
    let code = error.code().unwrap_or_default().to_string();
    match code.as_str() {
        "ConditionalCheckFailedException" => StoreError::Conflict,
        "TransactionCanceledException" if format!("{error:?}").contains("ConditionalCheckFailed") => {
            StoreError::Conflict
        }
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TransactionConflictException"
        | "TransactionCanceledException"
        | "InternalServerError" => StoreError::Unavailable(code),
        "" => StoreError::Unavailable(format!("DynamoDB unreachable: {}", error_text(&error))),
        _ => StoreError::Backend(format!("{code}: {}", error.message().unwrap_or_default())),
    }
}

fn error_text<E: std::fmt::Debug>(error: &SdkError<E>) -> String {
    match error {
        SdkError::DispatchFailure(_) => "dispatch failure".into(),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::ResponseError(_) => "unreadable response".into(),
        other => format!("{other:?}").chars().take(200).collect(),
    }
}

fn key_attributes(key: &Key) -> Attributes {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(key.pk.clone())),
        ("sk".to_string(), AttributeValue::S(key.sk.clone())),
    ])
}

fn item_attributes(item: &Item) -> Attributes {
    let mut attributes = key_attributes(&item.key);
    attributes.insert("kind".into(), AttributeValue::S(item.kind.clone()));
    attributes.insert("version".into(), AttributeValue::N(item.version.to_string()));
    attributes.insert("data".into(), AttributeValue::S(item.data.clone()));
    for (name, index) in [("gsi1", &item.gsi1), ("gsi2", &item.gsi2)] {
        if let Some(index) = index {
            attributes.insert(format!("{name}pk"), AttributeValue::S(index.pk.clone()));
            attributes.insert(format!("{name}sk"), AttributeValue::S(index.sk.clone()));
        }
    }
    if let Some(at) = item.expires_at {
        attributes.insert("expires_at".into(), AttributeValue::N(at.to_string()));
    }
    attributes
}

fn text(attributes: &Attributes, name: &str) -> Option<String> {
    attributes.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(attributes: &Attributes, name: &str) -> Option<i64> {
    attributes
        .get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

fn read_item(attributes: &Attributes) -> Result<Item, StoreError> {
    let required =
        |name: &str| text(attributes, name).ok_or_else(|| StoreError::Corrupt(format!("item without `{name}`")));
    let index = |name: &str| {
        text(attributes, &format!("{name}pk"))
            .zip(text(attributes, &format!("{name}sk")))
            .map(|(pk, sk)| Key { pk, sk })
    };
    Ok(Item {
        key: Key {
            pk: required("pk")?,
            sk: required("sk")?,
        },
        kind: required("kind")?,
        version: number(attributes, "version").unwrap_or(0) as u64,
        data: required("data")?,
        gsi1: index("gsi1"),
        gsi2: index("gsi2"),
        expires_at: number(attributes, "expires_at"),
    })
}

/// Condition expression (and its values) for a write; expired items count as absent.
fn condition_expression(condition: Condition, now_secs: i64) -> Option<(String, Attributes)> {
    let now = (":now".to_string(), AttributeValue::N(now_secs.to_string()));
    match condition {
        Condition::None => None,
        Condition::Absent => Some((
            "attribute_not_exists(pk) OR expires_at <= :now".into(),
            HashMap::from([now]),
        )),
        Condition::Version(expected) => Some((
            "#version = :expected AND (attribute_not_exists(expires_at) OR expires_at > :now)".into(),
            HashMap::from([now, (":expected".to_string(), AttributeValue::N(expected.to_string()))]),
        )),
    }
}

fn names_for(expression: &str) -> Option<HashMap<String, String>> {
    expression
        .contains("#version")
        .then(|| HashMap::from([("#version".to_string(), "version".to_string())]))
}

impl DynamoTable {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    /// Creates the table as `template.yaml` declares it (for tests and local emulators).
    pub async fn create_table(client: &Client, table_name: &str) -> Result<(), StoreError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))
        };
        let gsi = |name: &str| -> Result<GlobalSecondaryIndex, StoreError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(&format!("{name}pk"), KeyType::Hash)?)
                .key_schema(key(&format!("{name}sk"), KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))
        };
        let mut request = client
            .create_table()
            .table_name(table_name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi("gsi1")?)
            .global_secondary_indexes(gsi("gsi2")?)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            );
        for name in ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"] {
            request = request.attribute_definitions(attribute(name)?);
        }
        request.send().await.map_err(sdk_error)?;
        client
            .update_time_to_live()
            .table_name(table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn write_one(&self, op: WriteOp, now: i64) -> Result<(), StoreError> {
        match op {
            WriteOp::Put { item, condition } => {
                let mut request = self
                    .client
                    .put_item()
                    .table_name(&self.table_name)
                    .set_item(Some(item_attributes(&item)));
                if let Some((expression, values)) = condition_expression(condition, now) {
                    request = request
                        .set_expression_attribute_names(names_for(&expression))
                        .condition_expression(expression)
                        .set_expression_attribute_values(Some(values));
                }
                request.send().await.map_err(sdk_error)?;
            }
            WriteOp::Delete { key, condition } => {
                let mut request = self
                    .client
                    .delete_item()
                    .table_name(&self.table_name)
                    .set_key(Some(key_attributes(&key)));
                if let Some((expression, values)) = condition_expression(condition, now) {
                    request = request
                        .set_expression_attribute_names(names_for(&expression))
                        .condition_expression(expression)
                        .set_expression_attribute_values(Some(values));
                }
                request.send().await.map_err(sdk_error)?;
            }
        }
        Ok(())
    }

    fn transact_item(&self, op: WriteOp, now: i64) -> Result<TransactWriteItem, StoreError> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend(e.to_string());
        Ok(match op {
            WriteOp::Put { item, condition } => {
                let mut put = Put::builder()
                    .table_name(&self.table_name)
                    .set_item(Some(item_attributes(&item)));
                if let Some((expression, values)) = condition_expression(condition, now) {
                    put = put
                        .set_expression_attribute_names(names_for(&expression))
                        .condition_expression(expression)
                        .set_expression_attribute_values(Some(values));
                }
                TransactWriteItem::builder().put(put.build().map_err(build)?).build()
            }
            WriteOp::Delete { key, condition } => {
                let mut delete = Delete::builder()
                    .table_name(&self.table_name)
                    .set_key(Some(key_attributes(&key)));
                if let Some((expression, values)) = condition_expression(condition, now) {
                    delete = delete
                        .set_expression_attribute_names(names_for(&expression))
                        .condition_expression(expression)
                        .set_expression_attribute_values(Some(values));
                }
                TransactWriteItem::builder()
                    .delete(delete.build().map_err(build)?)
                    .build()
            }
        })
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        let now = clock::now_ms() / 1000;
        match output.item {
            Some(attributes) => {
                let item = read_item(&attributes)?;
                Ok((!item.is_expired(now)).then_some(item))
            }
            None => Ok(None),
        }
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let now = clock::now_ms() / 1000;
        match ops.len() {
            0 => Ok(()),
            1 => self.write_one(ops.into_iter().next().expect("one op"), now).await,
            _ => {
                let items = ops
                    .into_iter()
                    .map(|op| self.transact_item(op, now))
                    .collect::<Result<Vec<_>, _>>()?;
                self.client
                    .transact_write_items()
                    .set_transact_items(Some(items))
                    .send()
                    .await
                    .map_err(sdk_error)?;
                Ok(())
            }
        }
    }

    async fn query(&self, query: &Query) -> Result<Vec<Item>, StoreError> {
        let (index_name, pk_name, sk_name) = match query.index {
            Index::Primary => (None, "pk", "sk"),
            Index::Gsi1 => (Some("gsi1"), "gsi1pk", "gsi1sk"),
            Index::Gsi2 => (Some("gsi2"), "gsi2pk", "gsi2sk"),
        };
        let (expression, bounds) = match &query.sk {
            SkRange::Prefix(prefix) if prefix.is_empty() => ("#pk = :pk".to_string(), vec![]),
            SkRange::Prefix(prefix) => (
                "#pk = :pk AND #sk BETWEEN :low AND :high".to_string(),
                vec![(":low", prefix.clone()), (":high", prefix_upper_bound(prefix))],
            ),
            SkRange::AtMost(bound) => ("#pk = :pk AND #sk <= :high".to_string(), vec![(":high", bound.clone())]),
        };
        let mut names = HashMap::from([("#pk".to_string(), pk_name.to_string())]);
        if !bounds.is_empty() {
            names.insert("#sk".to_string(), sk_name.to_string());
        }
        let mut values = HashMap::from([(":pk".to_string(), AttributeValue::S(query.pk.clone()))]);
        values.extend(
            bounds
                .into_iter()
                .map(|(name, value)| (name.to_string(), AttributeValue::S(value))),
        );

        let now = clock::now_ms() / 1000;
        let mut found = Vec::new();
        let mut start: Option<Attributes> = None;
        loop {
            let page = i32::try_from(query.limit.saturating_sub(found.len()))
                .unwrap_or(i32::MAX)
                .clamp(1, 1000);
            let output = self
                .client
                .query()
                .table_name(&self.table_name)
                .set_index_name(index_name.map(str::to_string))
                .key_condition_expression(&expression)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start.take())
                .set_consistent_read(index_name.is_none().then_some(true))
                .limit(page)
                .send()
                .await
                .map_err(sdk_error)?;
            for attributes in output.items() {
                let item = read_item(attributes)?;
                if !item.is_expired(now) && found.len() < query.limit {
                    found.push(item);
                }
            }
            match output.last_evaluated_key {
                Some(next) if found.len() < query.limit => start = Some(next),
                _ => return Ok(found),
            }
        }
    }
}
