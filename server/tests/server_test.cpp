// Unit tests of the transport-neutral server parts: config.yaml, the HTTP JSON
// codec (with the binary-data extension), batching helpers, the per-model
// scheduler (validation, dynamic batching, bounded queue, drain), metrics,
// and the deploy/kserve manifests. The transports themselves are tested with
// real clients (serve_client_test.py, serve_bad_input_test.py).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <cstring>
#include <future>

#include "http_codec.h"
#include "inference.h"
#include "metrics.h"
#include "switchyard/config.h"
#include "switchyard/program.h"

namespace sy::serve {
namespace {

// ---------------------------------------------------------------------------
// config.yaml
// ---------------------------------------------------------------------------

TEST(ModelConfigTest, ParsesEveryKey) {
  auto c = parseModelConfig(
      "device: ../cpu.yaml\nmax_batch_size: 8\ninstance_count: 2\nmax_queue_size: 10\n"
      "dynamic_batching:\n  max_queue_delay_us: 500\n",
      "m/config.yaml");
  ASSERT_TRUE(c.ok()) << c.status().toString();
  EXPECT_EQ(c->devicePath, "../cpu.yaml");
  EXPECT_EQ(c->maxBatchSize, 8);
  EXPECT_EQ(c->instanceCount, 2);
  EXPECT_EQ(c->maxQueueSize, 10);
  EXPECT_TRUE(c->dynamicBatching.enabled);
  EXPECT_EQ(c->dynamicBatching.maxQueueDelayUs, 500);
}

TEST(ModelConfigTest, DefaultsAndInlineDevice) {
  auto empty = parseModelConfig("", "c.yaml");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->dynamicBatching.enabled);
  EXPECT_EQ(empty->maxBatchSize, 0);
  auto inl = parseModelConfig("device:\n  backends: [reference]\n", "c.yaml");
  ASSERT_TRUE(inl.ok()) << inl.status().toString();
  EXPECT_NE(inl->deviceInlineYaml.find("reference"), std::string::npos);
  auto parsed = parseConfig(inl->deviceInlineYaml, "inline");
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  ASSERT_EQ(parsed->backends.size(), 1u);
}

TEST(ModelConfigTest, ErrorsNameFileLineAndKey) {
  auto unknown = parseModelConfig("max_batch_size: 4\nmax_batchsize: 8\n", "m/config.yaml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("m/config.yaml:2:1"), std::string::npos) << unknown.status().message();
  EXPECT_NE(unknown.status().message().find("max_batchsize"), std::string::npos);
  auto badValue = parseModelConfig("instance_count: many\n", "c.yaml");
  ASSERT_FALSE(badValue.ok());
  EXPECT_NE(badValue.status().message().find("c.yaml:1:17"), std::string::npos) << badValue.status().message();
  auto noMax = parseModelConfig("dynamic_batching: {}\n", "c.yaml");
  ASSERT_FALSE(noMax.ok());
  EXPECT_NE(noMax.status().message().find("max_batch_size"), std::string::npos);
  auto badSub = parseModelConfig("max_batch_size: 2\ndynamic_batching:\n  delay: 3\n", "c.yaml");
  ASSERT_FALSE(badSub.ok());
  EXPECT_NE(badSub.status().message().find("c.yaml:3:3"), std::string::npos) << badSub.status().message();
  auto broken = parseModelConfig("max_batch_size: [1,\n", "c.yaml");
  ASSERT_FALSE(broken.ok());
}

// ---------------------------------------------------------------------------
// HTTP codec
// ---------------------------------------------------------------------------

TEST(HttpCodecTest, DecodesNestedJsonData) {
  InferRequest r;
  auto err = decodeInferRequest(
      R"({"id":"a1","inputs":[{"name":"x","datatype":"FP32","shape":[2,2],"data":[[1,2],[3,4.5]]},
          {"name":"m","datatype":"BOOL","shape":[2],"data":[true,false]}],
          "outputs":[{"name":"y","parameters":{"binary_data":true}}]})",
      std::nullopt, r);
  ASSERT_FALSE(err) << err->message;
  EXPECT_EQ(r.id, "a1");
  ASSERT_EQ(r.inputs.size(), 2u);
  EXPECT_EQ(r.inputs[0].tensor.shape(), (Shape{2, 2}));
  EXPECT_FLOAT_EQ(r.inputs[0].tensor.data<float>()[3], 4.5f);
  EXPECT_EQ(r.inputs[1].tensor.dtype(), DType::Bool);
  EXPECT_EQ(r.inputs[1].tensor.getInt(0), 1);
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_TRUE(r.outputs[0].binary);
}

TEST(HttpCodecTest, DecodesBinaryData) {
  const std::string json =
      R"({"inputs":[{"name":"x","datatype":"INT32","shape":[3],"parameters":{"binary_data_size":12}}]})";
  const int32_t values[3] = {7, -1, 42};
  std::string body = json + std::string(reinterpret_cast<const char*>(values), sizeof(values));
  InferRequest r;
  auto err = decodeInferRequest(body, json.size(), r);
  ASSERT_FALSE(err) << err->message;
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0].tensor.data<int32_t>()[2], 42);
}

TEST(HttpCodecTest, RefusesMalformedRequestsWithReasons) {
  struct Case {
    std::string body;
    std::optional<size_t> jsonLength;
    std::string expect;
  };
  const std::string bin = R"({"inputs":[{"name":"x","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]})";
  const std::vector<Case> cases = {
      {"{not json", std::nullopt, "malformed JSON"},
      {"[1,2]", std::nullopt, "JSON object"},
      {"{}", std::nullopt, "'inputs'"},
      {R"({"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]})", std::nullopt, "'name'"},
      {R"({"inputs":[{"name":"x","datatype":"FP8","shape":[1],"data":[1]}]})", std::nullopt, "FP8"},
      {R"({"inputs":[{"name":"x","datatype":"UINT8","shape":[1],"data":[256]}]})", std::nullopt, "out of range"},
      {R"({"inputs":[{"name":"x","datatype":"UINT16","shape":[1],"data":[-1]}]})", std::nullopt, "out of range"},
      {R"({"inputs":[{"name":"x","datatype":"UINT64","shape":[1],"data":[-1]}]})", std::nullopt, "out of range"},
      {R"({"inputs":[{"name":"x","datatype":"INT16","shape":[1],"data":[40000]}]})", std::nullopt, "out of range"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[-1],"data":[1]}]})", std::nullopt, "non-negative"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[3],"data":[1,2]}]})", std::nullopt, "needs 3 values"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":["a"]}]})", std::nullopt, "must be a number"},
      {R"({"inputs":[{"name":"x","datatype":"INT8","shape":[1],"data":[300]}]})", std::nullopt, "out of range"},
      {R"({"inputs":[{"name":"x","datatype":"BOOL","shape":[1],"data":[1]}]})", std::nullopt, "true or false"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1]}]})", std::nullopt, "neither 'data'"},
      {bin, std::nullopt, "no Inference-Header-Content-Length"},
      {bin + "1234", bin.size(), "only 4 bytes"},
      {bin + "123456789", bin.size(), "1 bytes of binary data after"},
      {bin, bin.size() + 10, "Inference-Header-Content-Length is"},
      {R"({"inputs":[],"outputs":[{"name":3}]})", std::nullopt, "outputs[0]"},
  };
  for (const Case& c : cases) {
    InferRequest r;
    auto err = decodeInferRequest(c.body, c.jsonLength, r);
    ASSERT_TRUE(err) << c.body;
    EXPECT_EQ(err->kind, ErrorKind::BadRequest);
    EXPECT_NE(err->message.find(c.expect), std::string::npos) << err->message << " (expected '" << c.expect << "')";
  }
}

TEST(HttpCodecTest, NewDatatypesRoundTripThroughJson) {
  InferRequest r;
  auto err = decodeInferRequest(
      R"({"inputs":[{"name":"img","datatype":"UINT8","shape":[3],"data":[0,128,255]},)"
      R"({"name":"big","datatype":"UINT64","shape":[1],"data":[18446744073709551615]},)"
      R"({"name":"d","datatype":"FP64","shape":[1],"data":[0.1]}]})",
      std::nullopt, r);
  ASSERT_FALSE(err) << err->message;
  ASSERT_EQ(r.inputs.size(), 3u);
  EXPECT_EQ(r.inputs[0].tensor.dtype(), DType::U8);
  EXPECT_EQ(r.inputs[0].tensor.data<uint8_t>()[2], 255);
  EXPECT_EQ(r.inputs[1].tensor.data<uint64_t>()[0], UINT64_MAX);
  EXPECT_EQ(r.inputs[2].tensor.data<double>()[0], 0.1);
}

TEST(HttpCodecTest, EncodesJsonAndBinaryOutputs) {
  auto t = Tensor::fromDoubles(DType::F32, {2}, {1.5, -2});
  ASSERT_TRUE(t.ok());
  InferOutcome outcome;
  outcome.outputs.push_back({"y", *t});
  InferRequest asJson;
  EncodedBody j = encodeInferResponse("m", "1", asJson, outcome);
  EXPECT_FALSE(j.jsonLength);
  EXPECT_NE(j.body.find(R"("data":[1.5,-2.0])"), std::string::npos) << j.body;
  InferRequest asBinary;
  asBinary.binaryOutputs = true;
  EncodedBody b = encodeInferResponse("m", "1", asBinary, outcome);
  ASSERT_TRUE(b.jsonLength);
  EXPECT_EQ(b.body.size(), *b.jsonLength + 8);
  EXPECT_NE(b.body.substr(0, *b.jsonLength).find(R"("binary_data_size":8)"), std::string::npos);
  float back[2];
  std::memcpy(back, b.body.data() + *b.jsonLength, 8);
  EXPECT_EQ(back[1], -2.0f);
}

// ---------------------------------------------------------------------------
// Batching helpers
// ---------------------------------------------------------------------------

TEST(BatchingTest, ConcatAndSliceRoundTrip) {
  auto a = Tensor::fromDoubles(DType::F32, {1, 2}, {1, 2});
  auto b = Tensor::fromDoubles(DType::F32, {2, 2}, {3, 4, 5, 6});
  ASSERT_TRUE(a.ok() && b.ok());
  auto joined = concatBatch({&*a, &*b});
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->shape(), (Shape{3, 2}));
  auto second = sliceBatch(*joined, 1, 2);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->bitwiseEqual(*b));
  auto c = Tensor::fromDoubles(DType::F32, {1, 3}, {1, 2, 3});
  EXPECT_FALSE(concatBatch({&*a, &*c}).ok());
  EXPECT_FALSE(sliceBatch(*joined, 2, 2).ok());
}

// ---------------------------------------------------------------------------
// ModelVersion: validation, dynamic batching, bounded queue
// ---------------------------------------------------------------------------

constexpr const char* kDoubler = R"(graph @doubler(%x: f32[N, 2], %k: f32[N, 1]) {
  %s = add(%x, %x) : f32[N, 2]
  %y = mul(%s, %k) : f32[N, 2]
  return %y
}
)";

class ModelVersionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = parseConfig("backends: [reference]\nplugin_paths: []\ndefault_plugin_paths: false\n", "test");
    ASSERT_TRUE(config.ok()) << config.status().toString();
    auto engine = Engine::create(*config);
    ASSERT_TRUE(engine.ok()) << engine.status().toString();
    engine_ = std::shared_ptr<const Engine>(std::move(*engine));
    auto graph = loadProgramFromText(kDoubler, "doubler.sy");
    ASSERT_TRUE(graph.ok()) << graph.status().toString();
    graph_ = std::shared_ptr<const Graph>(std::move(*graph));
    auto compiled = engine_->compile(graph_);
    ASSERT_TRUE(compiled.ok()) << compiled.status().toString();
    compiled_ = *compiled;
  }

  std::unique_ptr<ModelVersion> make(ModelConfig config) {
    return std::make_unique<ModelVersion>("doubler", "1", "switchyard_sy", engine_, graph_, compiled_, config,
                                          metrics_.forModel("doubler", "1"));
  }

  static InferRequest request(int64_t rows, float value, float k = 1) {
    std::vector<double> xs(static_cast<size_t>(rows * 2), value), ks(static_cast<size_t>(rows), k);
    InferRequest r;
    r.inputs.push_back({"x", *Tensor::fromDoubles(DType::F32, {rows, 2}, xs)});
    r.inputs.push_back({"k", *Tensor::fromDoubles(DType::F32, {rows, 1}, ks)});
    return r;
  }

  std::shared_ptr<const Engine> engine_;
  std::shared_ptr<const Graph> graph_;
  std::shared_ptr<const CompiledModel> compiled_;
  Metrics metrics_;
};

TEST_F(ModelVersionTest, ValidationNamesTheInputAndWhatWasExpected) {
  auto m = make({});
  EXPECT_TRUE(m->batchable());
  auto expectError = [&](InferRequest r, const std::string& text) {
    auto err = m->submit(std::move(r), [](InferOutcome&&) { ADD_FAILURE() << "callback of a refused request"; });
    ASSERT_TRUE(err) << "expected: " << text;
    EXPECT_EQ(err->kind, ErrorKind::BadRequest);
    EXPECT_NE(err->message.find(text), std::string::npos) << err->message;
  };
  InferRequest missing = request(1, 1);
  missing.inputs.pop_back();
  expectError(std::move(missing), "missing input 'k' (FP32 [-1, 1])");
  InferRequest dtype = request(1, 1);
  dtype.inputs[0].tensor = *Tensor::fromInts(DType::I64, {1, 2}, {1, 2});
  expectError(std::move(dtype), "input 'x': expected FP32 [-1, 2], got datatype INT64");
  InferRequest shape = request(1, 1);
  shape.inputs[0].tensor = *Tensor::fromDoubles(DType::F32, {1, 3}, {1, 2, 3});
  expectError(std::move(shape), "input 'x': expected FP32 [-1, 2], got shape [1, 3]");
  InferRequest symbols = request(2, 1);
  symbols.inputs[1].tensor = *Tensor::fromDoubles(DType::F32, {3, 1}, {1, 1, 1});
  expectError(std::move(symbols), "input 'k': dim 0 ('N') is 3, but input 'x' has N = 2");
  InferRequest unknown = request(1, 1);
  unknown.inputs.push_back({"z", *Tensor::fromDoubles(DType::F32, {1}, {1})});
  expectError(std::move(unknown), "unknown input 'z'");
  InferRequest twice = request(1, 1);
  twice.inputs.push_back(twice.inputs[0]);
  expectError(std::move(twice), "more than once");
  InferRequest badOut = request(1, 1);
  badOut.outputs.push_back({"nope", false});
  expectError(std::move(badOut), "unknown output 'nope': model 'doubler' has outputs y");
  ModelConfig limited;
  limited.maxBatchSize = 2;
  auto small = make(limited);
  auto err = small->submit(request(3, 1), [](InferOutcome&&) {});
  ASSERT_TRUE(err);
  EXPECT_NE(err->message.find("batch size 3 exceeds"), std::string::npos) << err->message;
}

TEST_F(ModelVersionTest, DynamicBatchingMergesRequestsAndSplitsTheAnswers) {
  ModelConfig config;
  config.maxBatchSize = 64;
  config.instanceCount = 1;
  config.dynamicBatching.enabled = true;
  config.dynamicBatching.maxQueueDelayUs = 200'000;
  auto m = make(config);
  constexpr int kRequests = 8;
  std::vector<std::promise<InferOutcome>> promises(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    auto err = m->submit(request(1 + i % 3, static_cast<float>(i), 0.5f),
                         [&promises, i](InferOutcome&& o) { promises[static_cast<size_t>(i)].set_value(std::move(o)); });
    ASSERT_FALSE(err) << err->message;
  }
  for (int i = 0; i < kRequests; ++i) {
    InferOutcome o = promises[static_cast<size_t>(i)].get_future().get();
    ASSERT_FALSE(o.error) << o.error->message;
    ASSERT_EQ(o.outputs.size(), 1u);
    const Tensor& y = o.outputs[0].tensor;
    ASSERT_EQ(y.shape(), (Shape{1 + i % 3, 2}));
    for (int64_t e = 0; e < y.numel(); ++e) EXPECT_FLOAT_EQ(y.data<float>()[e], static_cast<float>(i));  // 2 * i * 0.5
  }
  ModelMetrics* mm = metrics_.forModel("doubler", "1");
  EXPECT_EQ(mm->success.load(), static_cast<uint64_t>(kRequests));
  EXPECT_LT(mm->executions.load(), static_cast<uint64_t>(kRequests)) << "no requests were batched together";
}

TEST_F(ModelVersionTest, FullQueueRefusesAndStopDrains) {
  ModelConfig config;
  config.maxBatchSize = 64;
  config.instanceCount = 1;
  config.maxQueueSize = 2;
  config.dynamicBatching.enabled = true;
  config.dynamicBatching.maxQueueDelayUs = 5'000'000;  // requests wait in the queue until stop()
  auto m = make(config);
  std::atomic<int> answered{0};
  auto count = [&answered](InferOutcome&& o) {
    if (!o.error) answered.fetch_add(1);
  };
  EXPECT_FALSE(m->submit(request(1, 1), count));
  EXPECT_FALSE(m->submit(request(1, 2), count));
  auto refused = m->submit(request(1, 3), count);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->kind, ErrorKind::Unavailable);
  EXPECT_NE(refused->message.find("max_queue_size"), std::string::npos) << refused->message;
  m->stop();  // does not wait for the 5 s delay: stopping flushes the queue
  EXPECT_EQ(answered.load(), 2);
  auto afterStop = m->submit(request(1, 1), count);
  ASSERT_TRUE(afterStop);
  EXPECT_EQ(afterStop->kind, ErrorKind::Unavailable);
}

TEST_F(ModelVersionTest, BatchedAnswersGoBackToTheirRequests) {
  // Two requests of 1 and 2 rows run as one batch of 3; each gets its own rows back.
  ModelConfig config;
  config.maxBatchSize = 8;
  config.instanceCount = 1;
  config.dynamicBatching.enabled = true;
  config.dynamicBatching.maxQueueDelayUs = 100'000;
  auto m = make(config);
  std::promise<InferOutcome> p1, p2;
  ASSERT_FALSE(m->submit(request(1, 1, 2), [&](InferOutcome&& o) { p1.set_value(std::move(o)); }));
  ASSERT_FALSE(m->submit(request(2, 3, 1), [&](InferOutcome&& o) { p2.set_value(std::move(o)); }));
  InferOutcome o1 = p1.get_future().get(), o2 = p2.get_future().get();
  ASSERT_FALSE(o1.error);
  ASSERT_FALSE(o2.error);
  EXPECT_FLOAT_EQ(o1.outputs[0].tensor.data<float>()[0], 4.0f);
  EXPECT_EQ(o2.outputs[0].tensor.shape(), (Shape{2, 2}));
  EXPECT_FLOAT_EQ(o2.outputs[0].tensor.data<float>()[3], 6.0f);
}

TEST(ModelVersionIsolationTest, ARequestFailingInsideABatchFailsAlone) {
  // Integer division by zero fails at run time (not in validation). In a batch
  // with good requests, the batch fails, each request is rerun alone, and only
  // the bad one gets the error.
  auto config = parseConfig("backends: [reference]\nplugin_paths: []\ndefault_plugin_paths: false\n", "test");
  ASSERT_TRUE(config.ok());
  auto engine = Engine::create(*config);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  std::shared_ptr<const Engine> e(std::move(*engine));
  auto graph = loadProgramFromText(
      "graph @divide(%a: i64[N, 1], %b: i64[N, 1]) {\n  %q = div(%a, %b) : i64[N, 1]\n  return %q\n}\n", "divide.sy");
  ASSERT_TRUE(graph.ok()) << graph.status().toString();
  std::shared_ptr<const Graph> g(std::move(*graph));
  auto compiled = e->compile(g);
  ASSERT_TRUE(compiled.ok()) << compiled.status().toString();
  Metrics metrics;
  ModelConfig mc;
  mc.maxBatchSize = 16;
  mc.instanceCount = 1;
  mc.dynamicBatching.enabled = true;
  mc.dynamicBatching.maxQueueDelayUs = 200'000;
  ModelVersion m("divide", "1", "switchyard_sy", e, g, *compiled, mc, metrics.forModel("divide", "1"));
  auto req = [](int64_t a, int64_t b) {
    InferRequest r;
    r.inputs.push_back({"a", *Tensor::fromInts(DType::I64, {1, 1}, {a})});
    r.inputs.push_back({"b", *Tensor::fromInts(DType::I64, {1, 1}, {b})});
    return r;
  };
  std::vector<std::promise<InferOutcome>> promises(3);
  const int64_t divisors[3] = {2, 0, 5};
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_FALSE(m.submit(req(10, divisors[i]), [&promises, i](InferOutcome&& o) { promises[i].set_value(std::move(o)); }));
  }
  InferOutcome good1 = promises[0].get_future().get(), bad = promises[1].get_future().get(),
               good2 = promises[2].get_future().get();
  ASSERT_FALSE(good1.error) << good1.error->message;
  ASSERT_FALSE(good2.error) << good2.error->message;
  EXPECT_EQ(good1.outputs[0].tensor.getInt(0), 5);
  EXPECT_EQ(good2.outputs[0].tensor.getInt(0), 2);
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.error->kind, ErrorKind::BadRequest);
  EXPECT_NE(bad.error->message.find("division by zero"), std::string::npos) << bad.error->message;
  m.stop();
  ModelMetrics* mm = metrics.forModel("divide", "1");
  EXPECT_EQ(mm->success.load(), 2u);
  EXPECT_EQ(mm->failure[static_cast<int>(ErrorKind::BadRequest)].load(), 1u);
}

TEST(BatchingObstacleTest, NeedsASharedSymbolicFirstDim) {
  auto fixed = loadProgramFromText("graph @g(%x: f32[2, 2]) {\n  %y = add(%x, %x) : f32[2, 2]\n  return %y\n}\n", "g");
  ASSERT_TRUE(fixed.ok()) << fixed.status().toString();
  EXPECT_NE(ModelVersion::batchingObstacle(**fixed).find("input 'x'"), std::string::npos);
  auto ok = loadProgramFromText(kDoubler, "d");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ModelVersion::batchingObstacle(**ok), "");
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

TEST(MetricsTest, RendersPrometheusText) {
  Metrics metrics;
  ModelMetrics* m = metrics.forModel("mlp", "1");
  m->success += 3;
  m->failure[static_cast<int>(ErrorKind::Unavailable)] += 1;
  m->queueSeconds.observe(0.0004);
  m->batchSize.observe(4);
  const std::string text = metrics.render();
  EXPECT_NE(text.find("sy_inference_requests_success_total{model=\"mlp\",version=\"1\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("sy_inference_requests_failure_total{model=\"mlp\",version=\"1\",reason=\"unavailable\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("sy_inference_queue_duration_seconds_bucket{model=\"mlp\",version=\"1\",le=\"0.0005\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("sy_inference_queue_duration_seconds_bucket{model=\"mlp\",version=\"1\",le=\"0.00025\"} 0"),
            std::string::npos);
  EXPECT_NE(text.find("sy_inference_batch_size_bucket{model=\"mlp\",version=\"1\",le=\"+Inf\"} 1"), std::string::npos);
  EXPECT_NE(text.find("# TYPE sy_inference_compute_duration_seconds histogram"), std::string::npos);
}

// ---------------------------------------------------------------------------
// deploy/kserve manifests (they cannot be applied here; at least they parse)
// ---------------------------------------------------------------------------

TEST(DeployManifestTest, KServeManifestsParse) {
  const std::string dir = std::string(SY_SOURCE_DIR) + "/deploy/kserve/";
  std::vector<YAML::Node> runtime, service;
  ASSERT_NO_THROW(runtime = YAML::LoadAllFromFile(dir + "serving-runtime.yaml"));
  ASSERT_NO_THROW(service = YAML::LoadAllFromFile(dir + "inference-service.yaml"));
  ASSERT_EQ(runtime.size(), 1u);
  ASSERT_EQ(service.size(), 1u);
  EXPECT_EQ(runtime[0]["apiVersion"].as<std::string>(), "serving.kserve.io/v1alpha1");
  EXPECT_EQ(runtime[0]["kind"].as<std::string>(), "ServingRuntime");
  const YAML::Node container = runtime[0]["spec"]["containers"][0];
  bool servesSwitchyard = false;
  for (const auto& a : container["args"]) servesSwitchyard |= a.as<std::string>() == "serve";
  EXPECT_TRUE(servesSwitchyard);
  EXPECT_EQ(runtime[0]["spec"]["protocolVersions"][0].as<std::string>(), "v2");
  EXPECT_EQ(service[0]["kind"].as<std::string>(), "InferenceService");
  EXPECT_EQ(service[0]["spec"]["predictor"]["model"]["runtime"].as<std::string>(),
            runtime[0]["metadata"]["name"].as<std::string>());
  EXPECT_EQ(service[0]["spec"]["predictor"]["model"]["protocolVersion"].as<std::string>(), "v2");
}

}  // namespace
}  // namespace sy::serve
