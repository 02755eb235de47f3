//! `haven`: the command-line entry point. Configuration is loaded here (a TOML
//! file, `HAVEN_*` environment variables and flags) and nowhere else.

mod config;

use std::{io::Read, time::Duration};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use haven_store::Store;

use config::Config;

#[derive(Parser, Debug)]
#[command(
    name = "haven",
    version,
    about = "Haven: a supervised drug consumption facility and HAT clinic, and the evidence they produce"
)]
struct Cli {
    #[command(flatten)]
    global: config::GlobalArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the web server (migrates first).
    Serve {
        /// On an empty database, create the demo site and one account per role.
        #[arg(long)]
        demo: bool,
        /// Address to listen on.
        #[arg(long, env = "HAVEN_LISTEN")]
        listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Staff accounts.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// API bearer tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Sites.
    Site {
        #[command(subcommand)]
        cmd: SiteCmd,
    },
    /// Spaces (booths, inhalation places).
    Space {
        #[command(subcommand)]
        cmd: SpaceCmd,
    },
    /// Synthetic demo data.
    Demo {
        #[command(subcommand)]
        cmd: DemoCmd,
    },
}

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// Add a user with a role at a site; the password is read from standard input.
    Add {
        /// Username.
        name: String,
        /// Role: worker, nurse, prescriber, pharmacist, manager, evaluator or admin.
        #[arg(long)]
        role: String,
        /// Site code.
        #[arg(long)]
        site: String,
    },
    /// Disable a user: their sessions end and their tokens stop working.
    Disable {
        /// Username.
        name: String,
    },
    /// Set a new password (read from standard input); the user's sessions end.
    Password {
        /// Username.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCmd {
    /// Create a token for a user and print it once.
    Create {
        /// Username.
        #[arg(long)]
        user: String,
        /// Label, e.g. the integration that uses it.
        #[arg(long, default_value = "api")]
        label: String,
    },
    /// Revoke a token by its id.
    Revoke {
        /// Token id (printed by `token create`).
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Check the audit hash chain; exits non-zero naming the first bad event.
    Verify,
}

#[derive(Subcommand, Debug)]
enum SiteCmd {
    /// Add a site.
    Add {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "Europe/London")]
        timezone: String,
        #[arg(long, default_value = "09:00")]
        opens: String,
        #[arg(long, default_value = "21:00")]
        closes: String,
        /// Client code scheme: site, onhrdb or slk581.
        #[arg(long, default_value = "site")]
        scheme: String,
    },
    /// List sites.
    List,
    /// Print a site's settings (value lists: genders, substances, routes, refusal reasons,
    /// client flags, home-area format) as JSON.
    Settings {
        /// Site code.
        #[arg(long)]
        site: String,
    },
    /// Replace a site's settings from a JSON file (missing keys take the defaults;
    /// unknown keys are refused).
    Configure {
        /// Site code.
        #[arg(long)]
        site: String,
        /// JSON file, e.g. the output of `haven site settings` edited.
        #[arg(long)]
        settings: std::path::PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum SpaceCmd {
    /// Add a space to a site.
    Add {
        #[arg(long)]
        site: String,
        #[arg(long)]
        label: String,
        /// injecting or inhalation.
        #[arg(long, default_value = "injecting")]
        kind: String,
        #[arg(long)]
        wheelchair: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DemoCmd {
    /// Generate demo sites with history (for trying Haven and for benchmarks).
    Generate {
        /// Number of sites (the first is GLA).
        #[arg(long, default_value_t = 1)]
        sites: u32,
        /// Years of history per site.
        #[arg(long, default_value_t = 1)]
        years: u32,
        /// Volume relative to Glasgow's first year (1.0 ≈ 11,300 visits a year).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Random seed.
        #[arg(long, default_value_t = 2025)]
        seed: u64,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HAVEN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::load(&cli.global)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(cli.cmd, config))
}

async fn open(config: &Config) -> Result<Store> {
    Store::open(&config.location())
        .await
        .with_context(|| format!("opening the database ({})", config.describe_location()))
}

async fn run(cmd: Cmd, config: Config) -> Result<()> {
    match cmd {
        Cmd::Serve { demo, listen } => serve(config, demo, listen).await,
        Cmd::Migrate => {
            let store = open(&config).await?;
            println!("migrations applied ({})", config.describe_location());
            store.close().await;
            Ok(())
        }
        Cmd::User { cmd } => {
            let store = open(&config).await?;
            match cmd {
                UserCmd::Add { name, role, site } => {
                    let role = role.parse().map_err(anyhow::Error::msg)?;
                    let password = read_password()?;
                    let id = haven_app::auth::add_user_system(&store, &name, &password, &site, role)
                        .await
                        .map_err(app_err)?;
                    println!("user {name} added ({id})");
                }
                UserCmd::Disable { name } => {
                    haven_app::auth::disable_user_system(&store, &name)
                        .await
                        .map_err(app_err)?;
                    println!("user {name} disabled; their sessions have ended");
                }
                UserCmd::Password { name } => {
                    let password = read_password()?;
                    haven_app::auth::set_password_system(&store, &name, &password)
                        .await
                        .map_err(app_err)?;
                    println!("password of {name} changed; their sessions have ended");
                }
            }
            store.close().await;
            Ok(())
        }
        Cmd::Token { cmd } => {
            let store = open(&config).await?;
            match cmd {
                TokenCmd::Create { user, label } => {
                    let (id, token) = haven_app::auth::create_token_system(&store, &user, &label)
                        .await
                        .map_err(app_err)?;
                    eprintln!("token id {id} (revoke with: haven token revoke {id}); the token is shown once:");
                    println!("{token}");
                }
                TokenCmd::Revoke { id } => {
                    haven_app::auth::revoke_token_system(&store, &id)
                        .await
                        .map_err(app_err)?;
                    println!("token {id} revoked");
                }
            }
            store.close().await;
            Ok(())
        }
        Cmd::Audit { cmd: AuditCmd::Verify } => {
            let store = open(&config).await?;
            let result = haven_store::verify_audit(&store).await?;
            store.close().await;
            match result {
                Ok((n, head)) => {
                    println!("audit chain intact: {n} events, head {head}");
                    Ok(())
                }
                Err(b) => bail!("audit chain broken at event {}: {}", b.seq, b.reason),
            }
        }
        Cmd::Site { cmd } => {
            let store = open(&config).await?;
            match cmd {
                SiteCmd::Add {
                    code,
                    name,
                    timezone,
                    opens,
                    closes,
                    scheme,
                } => {
                    let input = haven_domain::site::validate_site(&code, &name, &timezone, &opens, &closes, &scheme)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    let site = store
                        .create_site(
                            &haven_app::system_ctx("cli"),
                            &input,
                            &haven_domain::site::SiteSettings::default().to_json(),
                        )
                        .await?;
                    println!("site {} added ({})", site.code, site.id);
                }
                SiteCmd::Settings { site } => {
                    let site = store
                        .site_by_code(&site)
                        .await
                        .with_context(|| format!("no site with code {site}"))?;
                    let settings = haven_domain::site::SiteSettings::from_json(&site.settings)
                        .map_err(|e| anyhow::anyhow!("stored settings do not parse: {e}"))?;
                    println!("{}", serde_json::to_string_pretty(&settings)?);
                }
                SiteCmd::Configure { site, settings } => {
                    let site = store
                        .site_by_code(&site)
                        .await
                        .with_context(|| format!("no site with code {site}"))?;
                    let text = std::fs::read_to_string(&settings)
                        .with_context(|| format!("reading {}", settings.display()))?;
                    let parsed = haven_domain::site::SiteSettings::from_json(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", settings.display()))?;
                    parsed
                        .validate()
                        .map_err(|e| anyhow::anyhow!("{}: {e}", settings.display()))?;
                    store
                        .update_site_settings(&haven_app::system_ctx("cli"), &site.id, &parsed.to_json())
                        .await?;
                    println!("settings of {} replaced", site.code);
                }
                SiteCmd::List => {
                    for s in store.sites().await? {
                        println!(
                            "{}\t{}\t{}\t{}–{}\t{}",
                            s.code, s.name, s.timezone, s.opens, s.closes, s.code_scheme
                        );
                    }
                }
            }
            store.close().await;
            Ok(())
        }
        Cmd::Space {
            cmd:
                SpaceCmd::Add {
                    site,
                    label,
                    kind,
                    wheelchair,
                },
        } => {
            let store = open(&config).await?;
            let site = store
                .site_by_code(&site)
                .await
                .with_context(|| format!("no site with code {site}"))?;
            let label = haven_domain::site::validate_space_label(&label).map_err(|e| anyhow::anyhow!("{e}"))?;
            let kind = haven_domain::site::SpaceKind::parse(&kind).context("kind must be injecting or inhalation")?;
            store
                .add_space(
                    &haven_app::system_ctx("cli"),
                    &site.id,
                    &label,
                    kind.as_str(),
                    wheelchair,
                )
                .await?;
            println!("space {label} added to {}", site.code);
            store.close().await;
            Ok(())
        }
        Cmd::Demo {
            cmd:
                DemoCmd::Generate {
                    sites,
                    years,
                    scale,
                    seed,
                },
        } => {
            let store = open(&config).await?;
            let summary = generate_demo(&store, sites, years, scale, seed).await?;
            println!(
                "demo: sites {}, {} clients, {} visits, {} episodes, {} checks, {} after-care stays, {} emergencies, \
                 {} services, {} referrals, {} drug-checking samples",
                summary.sites.join(", "),
                summary.clients,
                summary.visits,
                summary.episodes,
                summary.checks,
                summary.aftercare,
                summary.emergencies,
                summary.services,
                summary.referrals,
                summary.samples
            );
            store.close().await;
            Ok(())
        }
    }
}

/// Reads a password from standard input (one line; the newline is dropped).
fn read_password() -> Result<String> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("reading the password from standard input")?;
    Ok(password.trim_end_matches(['\n', '\r']).to_string())
}

fn app_err(e: haven_app::AppError) -> anyhow::Error {
    match e {
        haven_app::AppError::Invalid(inv) => anyhow::anyhow!("{inv}"),
        other => anyhow::anyhow!("{other}"),
    }
}

async fn generate_demo(
    store: &Store,
    sites: u32,
    years: u32,
    scale: f64,
    seed: u64,
) -> Result<haven_app::demo::DemoSummary> {
    if !(scale > 0.0 && scale <= 10_000.0) {
        bail!("--scale must be between 0 and 10000");
    }
    let bar = indicatif::ProgressBar::new(1);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} demo data [{bar:40}] {pos}/{len} visits ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let summary = haven_app::demo::generate(store, sites, years, scale, seed, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await
    .map_err(app_err)?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "demo data written in {secs:.1} s ({:.0} visits/s)",
        summary.visits as f64 / secs.max(0.001)
    );
    Ok(summary)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn serve(config: Config, demo: bool, listen: Option<String>) -> Result<()> {
    let store = if config.migrate_on_start {
        open(&config).await?
    } else {
        Store::connect(&config.location())
            .await
            .with_context(|| format!("connecting to the database ({})", config.describe_location()))?
    };
    let listen = listen.unwrap_or_else(|| config.listen.clone());
    if demo {
        if store.sites().await?.is_empty() {
            eprintln!("empty database: creating the demo site (about a year of Glasgow-sized history)…");
            generate_demo(&store, 1, 1, 1.0, 2025).await?;
        } else {
            eprintln!(
                "the database already holds sites; serving it as it is (demo data is only created on an empty database)"
            );
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    println!("Haven is running at http://{addr}/ ({})", config.describe_location());
    if demo && store.user_by_name("demo-worker").await.is_ok() {
        println!("Demo logins (password for each: {}):", haven_app::demo::DEMO_PASSWORD);
        for role in haven_domain::auth::Role::ALL {
            println!("  demo-{:<12} {}", role.as_str(), role.as_str());
        }
    }
    let state = haven_web::AppState::new(store.clone(), config.web());
    haven_web::serve(state, listener, shutdown_signal()).await?;
    // Bounded wait for the pools to close after shutdown.
    let _ = tokio::time::timeout(Duration::from_secs(10), store.close()).await;
    Ok(())
}
