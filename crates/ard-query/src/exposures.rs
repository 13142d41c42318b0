//! The `exposures` table: the exposure rows of exactly the pixel versions the catalogue
//! leaves name (see `ard_store::pixel`), so a join of `catalog` and `exposures` never
//! pairs a leaf with another version's exposures — even while an ingest is committing
//! pixels, or after it crashed, and before `finalize` republishes the HATS table.
//!
//! The file list is resolved when a query scans the table (one footer read per leaf),
//! not when the ARD is opened.

use std::fmt;
use std::sync::Arc;

use ard_store::pixel::PixelVersion;
use ard_store::ArdLayout;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;

/// The `exposures` table provider.
pub struct PixelExposures {
    layout: ArdLayout,
    schema: SchemaRef,
}

impl fmt::Debug for PixelExposures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PixelExposures").field("ard", &self.layout.root).finish()
    }
}

impl PixelExposures {
    /// The table over `layout`, whose rows have `schema` (the HATS table's `_common_metadata`).
    pub fn new(layout: ArdLayout, schema: SchemaRef) -> Self {
        PixelExposures { layout, schema }
    }

    /// The exposures files the current leaves name, as URLs.
    fn files(&self) -> Result<Vec<ListingTableUrl>> {
        let dataset = self.layout.catalog().join("dataset");
        let leaves = ard_store::layout::list_pixel_files(&dataset, "parquet").map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut urls = Vec::new();
        for (pixel, _) in leaves {
            let version = PixelVersion::of_leaf(&self.layout, pixel).map_err(|e| DataFusionError::External(Box::new(e)))?;
            if let Some(path) = version.and_then(|v| v.exposures_path(&self.layout)) {
                urls.push(ListingTableUrl::parse(path.to_string_lossy())?);
            }
        }
        Ok(urls)
    }
}

#[async_trait]
impl TableProvider for PixelExposures {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // Handed to the Parquet scan for pruning; DataFusion still applies them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let urls = self.files()?;
        if urls.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(self.schema.clone());
        ListingTable::try_new(config)?.scan(state, projection, filters, limit).await
    }
}
