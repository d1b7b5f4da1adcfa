use appauth_operator::crdgen;
use clap::{Parser, Subcommand};

/// Provisions Huawei Cloud API-gateway apps and ModelArts inference APIs from custom resources.
#[derive(Parser, Debug)]
#[command(name = "appauth-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML.
    Crd {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long)]
        out_dir: Option<std::path::PathBuf>,
    },
    /// Run the controllers.
    Run(Box<appauth_operator::run::RunArgs>),
}

/// jemalloc: with glibc's malloc, a third of the operator's memory at 10,000 objects was freed
/// memory the arenas kept (docs/benchmarks.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd { out_dir: None } => print!("{}", crdgen::all_yaml()?),
        Command::Crd { out_dir: Some(dir) } => {
            std::fs::create_dir_all(&dir)?;
            for (file, crd) in crdgen::crds() {
                std::fs::write(dir.join(file), crdgen::to_yaml(&crd)?)?;
            }
        }
        Command::Run(args) => appauth_operator::run::run(*args).await?,
    }
    Ok(())
}
