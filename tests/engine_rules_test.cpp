// The business rules engine (engine/rules.hpp): the file format, each rule
// kind and the request filter, on hand-made lists.

#include "engine/rules.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace {

using namespace recd;
using namespace recd::rules;

constexpr unix_seconds now = 1714564800; // 2024-05-01T12:00:00Z
constexpr unix_seconds day = 86400;

rule_set parsed(std::string_view text) {
  auto r = parse(text);
  if (auto* e = std::get_if<parse_error>(&r)) {
    ADD_FAILURE() << e->message;
    return {};
  }
  return std::get<rule_set>(std::move(r));
}

parse_error refused(std::string_view text) {
  auto r = parse(text);
  if (!std::holds_alternative<parse_error>(r)) {
    ADD_FAILURE() << "accepted: " << text;
    return {};
  }
  return std::get<parse_error>(std::move(r));
}

struct shop {
  std::vector<item_facts> facts;
  std::vector<entry> list; // best first
  void add(item_id id, double score, std::vector<std::string> categories,
           std::vector<std::string> labels = {}, unix_seconds created = 0) {
    facts.push_back({std::move(categories), std::move(labels), created});
    list.push_back({id, score, nullptr});
  }
  std::vector<entry> entries() {
    auto out = list;
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i].facts = &facts[i];
    return out;
  }
};

std::vector<item_id> ids(const std::vector<entry>& in, const std::vector<placed>& out) {
  std::vector<item_id> r;
  for (const auto& p : out)
    r.push_back(in[p.index].item);
  return r;
}

TEST(RulesFile, ParsesEveryRuleKindWithCommentsAndBlankLines) {
  auto set = parsed("# a shop's rules\n"
                    "\n"
                    "sold-out: hide label sold_out\n"
                    "  no-adult :  hide category Adult Books  \n"
                    "promo: boost label summer sale x1.5\n"
                    "new-arrivals: boost new 14 days x2\n"
                    "variety: diversity 2 per category in top 10\n");
  ASSERT_EQ(set.rules.size(), 5u);
  EXPECT_EQ(set.rules[0].kind, rule_kind::hide_label);
  EXPECT_EQ(set.rules[0].value, "sold_out");
  EXPECT_EQ(set.rules[0].line, 3);
  EXPECT_EQ(set.rules[1].name, "no-adult");
  EXPECT_EQ(set.rules[1].kind, rule_kind::hide_category);
  EXPECT_EQ(set.rules[1].value, "Adult Books");
  EXPECT_EQ(set.rules[2].kind, rule_kind::boost_label);
  EXPECT_EQ(set.rules[2].value, "summer sale");
  EXPECT_DOUBLE_EQ(set.rules[2].factor, 1.5);
  EXPECT_EQ(set.rules[3].kind, rule_kind::boost_new);
  EXPECT_EQ(set.rules[3].days, 14);
  EXPECT_DOUBLE_EQ(set.rules[3].factor, 2);
  EXPECT_EQ(set.rules[4].kind, rule_kind::diversity);
  EXPECT_EQ(set.rules[4].per, 2);
  EXPECT_EQ(set.rules[4].top, 10);
  EXPECT_NE(set.tag, 0u);
}

TEST(RulesFile, AnEmptyFileHasNoRulesAndTagZero) {
  auto set = parsed("# nothing yet\n\n");
  EXPECT_TRUE(set.empty());
  EXPECT_EQ(set.tag, 0u);
  EXPECT_TRUE(parsed("").empty());
}

TEST(RulesFile, TheTagFollowsTheRulesNotTheirSpelling) {
  auto a = parsed("promo: boost label promo x1.5\n");
  auto b = parsed("# comment\n  promo :   boost label promo 1.50\r\n");
  auto c = parsed("promo: boost label promo x2\n");
  EXPECT_EQ(a.tag, b.tag);
  EXPECT_NE(a.tag, c.tag);
  EXPECT_EQ(render(a), "promo: boost label promo x1.5\n");
}

TEST(RulesFile, RenderedRulesParseToTheSameRules) {
  auto set = parsed("a: hide category X Y\nb: hide label l\nc: boost label p x3\n"
                    "d: boost new 7 days x1.25\ne: diversity 1 per category in top 5\n");
  auto again = parsed(render(set));
  EXPECT_EQ(render(again), render(set));
  EXPECT_EQ(again.tag, set.tag);
}

TEST(RulesFile, ParseErrorsNameTheOffendingLine) {
  struct row {
    const char* text;
    std::int32_t line;
    const char* says;
  };
  const std::vector<row> rows = {
    {"ok: hide label x\nno colon here\n", 2, "expected 'NAME: RULE'"},
    {"bad name!: hide label x\n", 1, "rule name"},
    {": hide label x\n", 1, "rule name"},
    {"a: hide label x\n\n# c\na: hide label y\n", 4, "used twice"},
    {"a: show label x\n", 1, "unknown rule 'show'"},
    {"a: hide colour red\n", 1, "hide takes"},
    {"a: hide label\n", 1, "hide label"},
    {"a: boost label promo\n", 1, "boost label takes"},
    {"a: boost label promo x0\n", 1, "factor"},
    {"a: boost label promo x-2\n", 1, "factor"},
    {"a: boost label promo x101\n", 1, "factor"},
    {"a: boost label promo xnan\n", 1, "factor"},
    {"a: boost new 0 days x2\n", 1, "DAYS"},
    {"a: boost new 5 weeks x2\n", 1, "DAYS"},
    {"a: boost new 5 days\n", 1, "factor"},
    {"a: boost new 5 days x2 extra\n", 1, "factor"},
    {"a: boost price x2\n", 1, "boost takes"},
    {"a: diversity 3 per category in top 2\n", 1, "diversity takes"},
    {"a: diversity 0 per category in top 2\n", 1, "diversity takes"},
    {"a: diversity 2 per brand in top 10\n", 1, "diversity takes"},
    {"a: diversity 2 per category in top 1001\n", 1, "diversity takes"},
    {"a: hide label bad\x01label\n", 1, "control characters"},
  };
  for (const auto& r : rows) {
    auto e = refused(r.text);
    EXPECT_EQ(e.line, r.line) << r.text;
    EXPECT_NE(e.message.find("line " + std::to_string(r.line) + ": "), std::string::npos)
      << e.message;
    EXPECT_NE(e.message.find(r.says), std::string::npos) << r.text << " -> " << e.message;
  }
}

TEST(RulesFile, TooManyRulesOrBytesAreRefused) {
  std::string text;
  for (std::size_t i = 0; i <= max_rules; ++i)
    text += "r" + std::to_string(i) + ": hide label x\n";
  auto e = refused(text);
  EXPECT_EQ(e.line, static_cast<std::int32_t>(max_rules + 1));
  auto big = refused(std::string(max_file_bytes + 1, '#'));
  EXPECT_EQ(big.line, 0);
}

TEST(RulesApply, NoRulesAndNoFilterKeepTheListAsItIs) {
  shop s;
  s.add(5, 0.9, {"a"});
  s.add(3, 0.8, {"b"});
  std::vector<entry> in = s.list; // no facts at all
  auto out = apply({}, {}, in, now);
  EXPECT_EQ(ids(in, out), (std::vector<item_id>{5, 3}));
  EXPECT_TRUE(out[0].fired.empty());
}

TEST(RulesApply, TheCategoryFilterKeepsOnlyThatCategory) {
  shop s;
  s.add(1, 0.9, {"shoes"});
  s.add(2, 0.8, {"hats", "shoes"});
  s.add(3, 0.7, {"hats"});
  s.add(4, 0.6, {});
  auto in = s.entries();
  EXPECT_EQ(ids(in, apply({}, {"shoes"}, in, now)), (std::vector<item_id>{1, 2}));
  EXPECT_EQ(ids(in, apply({}, {"hats"}, in, now)), (std::vector<item_id>{2, 3}));
  EXPECT_TRUE(apply({}, {"Hats"}, in, now).empty()); // exact match
}

TEST(RulesApply, ItemsWithoutKnownFactsAreDroppedWhenFactsAreNeeded) {
  shop s;
  s.add(1, 0.9, {"shoes"});
  s.add(2, 0.8, {"shoes"});
  auto in = s.entries();
  in[0].facts = nullptr;
  EXPECT_EQ(ids(in, apply({}, {"shoes"}, in, now)), (std::vector<item_id>{2}));
}

TEST(RulesApply, HideByCategoryAndByLabel) {
  shop s;
  s.add(1, 0.9, {"adult"});
  s.add(2, 0.8, {"books"}, {"sold_out"});
  s.add(3, 0.7, {"books"}, {"new"});
  auto in = s.entries();
  auto set = parsed("a: hide category adult\nb: hide label sold_out\n");
  auto out = apply(set, {}, in, now);
  EXPECT_EQ(ids(in, out), (std::vector<item_id>{3}));
  EXPECT_TRUE(out[0].fired.empty());
}

TEST(RulesApply, BoostByLabelMultipliesTheScoreAndSaysWhichRuleFired) {
  shop s;
  s.add(1, 1.0, {"x"});
  s.add(2, 0.6, {"x"}, {"promo"});
  s.add(3, 0.5, {"x"}, {"promo", "clearance"});
  auto in = s.entries();
  auto set = parsed("promo: boost label promo x2\nclear: boost label clearance x1.5\n");
  auto out = apply(set, {}, in, now);
  ASSERT_EQ(ids(in, out), (std::vector<item_id>{3, 2, 1}));
  EXPECT_DOUBLE_EQ(out[0].score, 0.5 * 2 * 1.5);
  EXPECT_EQ(out[0].fired, (std::vector<std::uint16_t>{0, 1}));
  EXPECT_DOUBLE_EQ(out[1].score, 1.2);
  EXPECT_EQ(out[1].fired, (std::vector<std::uint16_t>{0}));
  EXPECT_DOUBLE_EQ(out[2].score, 1.0);
  EXPECT_TRUE(out[2].fired.empty());
}

TEST(RulesApply, BoostByAgeLiftsOnlyItemsCreatedWithinTheWindow) {
  shop s;
  s.add(1, 1.0, {"x"}, {}, now - 30 * day);
  s.add(2, 0.4, {"x"}, {}, now - 13 * day);     // new
  s.add(3, 0.3, {"x"}, {}, now - 14 * day);     // exactly 14 days: not new
  s.add(4, 0.2, {"x"}, {}, 0);                  // unknown creation time
  s.add(5, 0.1, {"x"}, {}, now + day);          // created in the future: not boosted
  auto in = s.entries();
  auto out = apply(parsed("new: boost new 14 days x3\n"), {}, in, now);
  ASSERT_EQ(ids(in, out), (std::vector<item_id>{2, 1, 3, 4, 5}));
  EXPECT_EQ(out[0].fired, (std::vector<std::uint16_t>{0}));
  for (std::size_t i = 1; i < out.size(); ++i)
    EXPECT_TRUE(out[i].fired.empty()) << i;
}

TEST(RulesApply, DiversityCapsEachCategoryInTheTopAndMovesTheRestBelow) {
  shop s;
  s.add(1, 0.9, {"a"});
  s.add(2, 0.8, {"a"});
  s.add(3, 0.7, {"a"});      // third "a" in the top 4: moved below
  s.add(4, 0.6, {"b"});
  s.add(5, 0.5, {"a", "c"}); // "a" full: moved
  s.add(6, 0.4, {"c"});
  s.add(7, 0.3, {"a"});      // beyond the top: stays
  auto in = s.entries();
  auto out = apply(parsed("variety: diversity 2 per category in top 4\n"), {}, in, now);
  ASSERT_EQ(ids(in, out), (std::vector<item_id>{1, 2, 4, 6, 3, 5, 7}));
  EXPECT_EQ(out[4].fired, (std::vector<std::uint16_t>{0}));
  EXPECT_EQ(out[5].fired, (std::vector<std::uint16_t>{0}));
  EXPECT_TRUE(out[0].fired.empty());
  EXPECT_TRUE(out[6].fired.empty());
  std::map<std::string, int> top_counts;
  for (std::size_t i = 0; i < 4; ++i)
    for (const auto& c : in[out[i].index].facts->categories)
      ++top_counts[c];
  for (const auto& [c, n] : top_counts)
    EXPECT_LE(n, 2) << c;
}

TEST(RulesApply, DiversityWithTooFewOtherItemsKeepsEveryItem) {
  shop s;
  s.add(1, 0.9, {"a"});
  s.add(2, 0.8, {"a"});
  s.add(3, 0.7, {"a"});
  auto in = s.entries();
  auto out = apply(parsed("v: diversity 1 per category in top 3\n"), {}, in, now);
  EXPECT_EQ(ids(in, out), (std::vector<item_id>{1, 2, 3}));
  EXPECT_EQ(out[1].fired.size(), 1u);
}

TEST(RulesApply, HideWinsOverBoostAndTheFilterComposesWithRules) {
  shop s;
  s.add(1, 0.5, {"shoes"}, {"promo", "sold_out"});
  s.add(2, 0.4, {"shoes"}, {"promo"});
  s.add(3, 0.9, {"hats"}, {"promo"});
  auto in = s.entries();
  auto set = parsed("promo: boost label promo x2\nsold: hide label sold_out\n");
  auto out = apply(set, {"shoes"}, in, now);
  ASSERT_EQ(ids(in, out), (std::vector<item_id>{2}));
  EXPECT_DOUBLE_EQ(out[0].score, 0.8);
}

TEST(RulesApply, TheSameInputGivesTheSameOrder) {
  shop s;
  for (int i = 0; i < 50; ++i)
    s.add(i, 1.0 - 0.01 * (i % 7), {std::string(1, char('a' + i % 5))},
          i % 3 == 0 ? std::vector<std::string>{"p"} : std::vector<std::string>{});
  auto in = s.entries();
  auto set = parsed("p: boost label p x1.1\nv: diversity 2 per category in top 10\n");
  EXPECT_EQ(ids(in, apply(set, {}, in, now)), ids(in, apply(set, {}, in, now)));
}

} // namespace
